using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using SelfTune.Admin.Infrastructure;

namespace SelfTune.Admin.Tests.Benchmarks;

/// <summary>
/// Where a publish's time goes, for the benchmark's report: every outgoing HTTP call (the fake GitHub, the test's own
/// API reads), every database command and commit, the requests the app serves, its job runs and the GC's pauses, each
/// with its start and duration, so one round can be printed as a timeline and summed by kind. Listens only while it exists; it costs the measured rounds a little
/// (an event per command), which is why the latency figure itself is measured without it.
/// </summary>
public sealed class PublishTimeline : IDisposable, IObserver<DiagnosticListener>, IObserver<KeyValuePair<string, object?>>
{
    /// <summary>One step: when it started (Stopwatch ticks), how long it took, what it was.</summary>
    public sealed record Step(long Start, double Milliseconds, string Kind, string What);

    readonly ConcurrentQueue<Step> steps = new();
    readonly ActivityListener activities;
    readonly IDisposable allListeners;
    readonly List<IDisposable> subscriptions = [];
    readonly GcPauseListener gc;

    public PublishTimeline()
    {
        // Outgoing calls, the requests the app serves (ASP.NET Core's hosting activity: from the request's start to its
        // response written) and the app's job runs (JobWorker's span per job), so the gaps between commands have names.
        activities = new ActivityListener
        {
            ShouldListenTo = source => source.Name is "System.Net.Http" or "Microsoft.AspNetCore" or SelfTuneTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            ActivityStopped = a => steps.Enqueue(new Step(Stopwatch.GetTimestamp() - (long)(a.Duration.TotalSeconds * Stopwatch.Frequency),
                a.Duration.TotalMilliseconds, a.Source.Name switch
                {
                    "System.Net.Http" => "http",
                    "Microsoft.AspNetCore" => "served",
                    _ => "app",
                }, a.Source.Name == "System.Net.Http" ? $"{a.GetTagItem("http.request.method")} {a.GetTagItem("url.full")}" : a.DisplayName)),
        };
        ActivitySource.AddActivityListener(activities);
        allListeners = DiagnosticListener.AllListeners.Subscribe(this);
        gc = new GcPauseListener((start, ms, generation) => steps.Enqueue(new Step(start, ms, "gc", $"pause, generation {generation}")));
    }

    public IReadOnlyList<Step> Between(long from, long to) => steps.Where(s => s.Start >= from && s.Start < to).OrderBy(s => s.Start).ToList();

    void IObserver<DiagnosticListener>.OnNext(DiagnosticListener listener)
    {
        if (listener.Name != DbLoggerCategory.Name) return;
        lock (subscriptions) subscriptions.Add(listener.Subscribe(this));
    }

    void IObserver<KeyValuePair<string, object?>>.OnNext(KeyValuePair<string, object?> e)
    {
        var now = Stopwatch.GetTimestamp();
        switch (e.Value)
        {
            case CommandExecutedEventData c:
                steps.Enqueue(new Step(now - (long)(c.Duration.TotalSeconds * Stopwatch.Frequency), c.Duration.TotalMilliseconds, "db",
                    OneLine(c.Command.CommandText)));
                break;
            case TransactionEndEventData t when e.Key == RelationalEventId.TransactionCommitted.Name:
                steps.Enqueue(new Step(now - (long)(t.Duration.TotalSeconds * Stopwatch.Frequency), t.Duration.TotalMilliseconds, "commit", "COMMIT"));
                break;
        }
    }

    static string OneLine(string sql)
    {
        var line = string.Join(' ', sql.Split((char[])['\n', '\r', '\t', ' '], StringSplitOptions.RemoveEmptyEntries));
        return line.Length <= 90 ? line : line[..90] + "…";
    }

    void IObserver<DiagnosticListener>.OnCompleted() { }
    void IObserver<DiagnosticListener>.OnError(Exception error) { }
    void IObserver<KeyValuePair<string, object?>>.OnCompleted() { }
    void IObserver<KeyValuePair<string, object?>>.OnError(Exception error) { }

    public void Dispose()
    {
        activities.Dispose();
        gc.Dispose();
        allListeners.Dispose();
        lock (subscriptions) foreach (var s in subscriptions) s.Dispose();
    }
}
