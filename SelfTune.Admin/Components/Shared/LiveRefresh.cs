namespace SelfTune.Admin.Components.Shared;

/// <summary>
/// Turns server-side notifications (raised on any thread, possibly in bursts) into page reloads on the component's
/// dispatcher: at most one reload runs at a time, and requests during a reload coalesce into one more. A page creates
/// it with its own <c>InvokeAsync</c> and a reload that re-reads and calls <c>StateHasChanged</c>, calls
/// <see cref="Request"/> from its event handlers, and disposes it (after unsubscribing) when it is disposed.
/// </summary>
public sealed class LiveRefresh(Func<Func<Task>, Task> invokeAsync, Func<Task> reload, Action<Exception>? onError = null) : IDisposable
{
    readonly Lock gate = new();
    bool running, pending, disposed;

    /// <summary>Asks for a reload; returns at once (safe to call from a notifier's thread).</summary>
    public void Request()
    {
        lock (gate)
        {
            if (disposed) return;
            if (running) { pending = true; return; }
            running = true;
        }
        _ = RunAsync();
    }

    async Task RunAsync()
    {
        while (true)
        {
            try
            {
                await invokeAsync(reload);
            }
            catch (Exception e)
            {
                bool report;
                lock (gate) report = !disposed;
                if (report)
                {
                    try { await invokeAsync(() => { onError?.Invoke(e); return Task.CompletedTask; }); }
                    catch (Exception) { } // the circuit is gone
                }
            }
            lock (gate)
            {
                if (pending && !disposed) { pending = false; continue; }
                running = false;
                return;
            }
        }
    }

    public void Dispose()
    {
        lock (gate) disposed = true;
    }
}
