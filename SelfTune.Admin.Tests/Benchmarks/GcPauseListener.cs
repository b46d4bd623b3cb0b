using System.Diagnostics;
using System.Diagnostics.Tracing;

namespace SelfTune.Admin.Tests.Benchmarks;

/// <summary>
/// The process's garbage collections as they happen: for each, when the runtime began suspending the threads
/// (<see cref="Stopwatch"/> ticks), how long until it restarted them (the pause every thread sees, in ms) and the
/// generation collected. For the benchmark's reports of where time went.
/// </summary>
public sealed class GcPauseListener(Action<long, double, int> paused) : EventListener
{
    long suspended;
    int generation = -1;
    sealed record Flush(long After, TaskCompletionSource Seen);
    Flush? flush;

    /// <summary>
    /// Completes once every collection before this call has been reported: the runtime delivers its events late, in order,
    /// so this collects once and waits for that collection's report.
    /// </summary>
    public Task FlushAsync()
    {
        var seen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref flush, new Flush(Stopwatch.GetTimestamp(), seen));
        GC.Collect(0);
        return seen.Task.WaitAsync(TimeSpan.FromSeconds(30));
    }

    protected override void OnEventSourceCreated(EventSource source)
    {
        if (source.Name == "Microsoft-Windows-DotNETRuntime") EnableEvents(source, EventLevel.Informational, (EventKeywords)0x1); // GC
    }

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        // The runtime's events reach a listener late (through a dispatch thread), so the event's own time is used.
        var at = Stopwatch.GetTimestamp() - (long)((DateTime.UtcNow - e.TimeStamp.ToUniversalTime()).TotalSeconds * Stopwatch.Frequency);
        switch (e.EventName)
        {
            case "GCSuspendEEBegin_V1": suspended = at; break;
            case "GCStart_V2": generation = Convert.ToInt32(e.Payload![e.PayloadNames!.IndexOf("Depth")]); break;
            case "GCRestartEEEnd_V1" when suspended != 0:
                paused(suspended, Stopwatch.GetElapsedTime(suspended, at).TotalMilliseconds, generation);
                if (Volatile.Read(ref flush) is { } f && suspended >= f.After) f.Seen.TrySetResult();
                suspended = 0;
                break;
        }
    }
}
