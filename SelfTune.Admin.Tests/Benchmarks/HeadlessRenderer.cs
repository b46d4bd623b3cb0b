// A renderer of its own is what this class is for; BL0006 warns that the RenderTree types may change between releases.
#pragma warning disable BL0006
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.AspNetCore.Components.RenderTree;
using Microsoft.Extensions.Logging.Abstractions;
using MudBlazor;

namespace SelfTune.Admin.Tests.Benchmarks;

/// <summary>
/// A Blazor renderer that does what a circuit's renderer does up to the wire: components render and diff on its
/// dispatcher, and each batch is handed to <see cref="UpdateDisplayAsync"/>, which only looks for awaited text in the new
/// frames. For measuring what an open page costs the server: bUnit's renderer turns the whole page back into HTML after
/// every render (its markup snapshot), which for a 50-row table costs far more than the page itself. Not counted here:
/// serialising a batch for SignalR (proportional to the diff, a few hundred bytes for one row).
/// </summary>
public sealed class HeadlessRenderer(IServiceProvider services) : Renderer(services, NullLoggerFactory.Instance)
{
    readonly List<(string Text, TaskCompletionSource Seen)> awaited = [];
    readonly List<Exception> errors = [];

    public override Dispatcher Dispatcher => Meter;

    /// <summary>The dispatcher, which counts the CPU and allocations of the page's work.</summary>
    public MeteredDispatcher Meter { get; } = new();

    /// <summary>Disposes the page's components (ending their subscriptions) and the renderer.</summary>
    public ValueTask CloseAsync() => DisposeAsync();

    /// <summary>Render batches so far.</summary>
    public int Batches { get; private set; }

    /// <summary>Renders <typeparamref name="TPage"/> signed in (as bUnit's authorization says) with MainLayout's providers.</summary>
    public Task RenderPageAsync<TPage>() where TPage : IComponent => Dispatcher.InvokeAsync(async () =>
    {
        RenderFragment page = b =>
        {
            b.OpenComponent<MudPopoverProvider>(0);
            b.CloseComponent();
            b.OpenComponent<TPage>(1);
            b.CloseComponent();
        };
        var root = InstantiateComponent(typeof(CascadingAuthenticationState));
        await RenderRootComponentAsync(AssignRootComponentId(root),
            ParameterView.FromDictionary(new Dictionary<string, object?> { [nameof(CascadingAuthenticationState.ChildContent)] = page }));
    });

    /// <summary>Completes when a later batch writes <paramref name="text"/> (text, markup or an attribute value).</summary>
    public Task WhenRendered(string text)
    {
        var seen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (awaited) awaited.Add((text, seen));
        return seen.Task;
    }

    protected override Task UpdateDisplayAsync(in RenderBatch batch)
    {
        Batches++;
        lock (awaited)
        {
            if (awaited.Count == 0) return Task.CompletedTask;
            for (var i = 0; i < batch.ReferenceFrames.Count; i++)
            {
                ref var frame = ref batch.ReferenceFrames.Array[i];
                var value = frame.FrameType switch
                {
                    RenderTreeFrameType.Text => frame.TextContent,
                    RenderTreeFrameType.Markup => frame.MarkupContent,
                    RenderTreeFrameType.Attribute => frame.AttributeValue as string,
                    _ => null,
                };
                if (value is null) continue;
                foreach (var (text, seen) in awaited.Where(a => value.Contains(a.Text, StringComparison.Ordinal)).ToList())
                {
                    seen.TrySetResult();
                    awaited.Remove((text, seen));
                }
            }
        }
        return Task.CompletedTask;
    }

    protected override void HandleException(Exception exception)
    {
        lock (errors) errors.Add(exception);
        lock (awaited)
            foreach (var (_, seen) in awaited) seen.TrySetException(exception);
    }
}
