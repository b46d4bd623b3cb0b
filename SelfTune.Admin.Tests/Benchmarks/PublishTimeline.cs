using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace SelfTune.Admin.Tests.Benchmarks;

/// <summary>
/// Where a publish's time goes, for the benchmark's report: every outgoing HTTP call (the fake GitHub, the test's own
/// API reads) and every database command and commit in the process, with its start and duration, so one round can be
/// printed as a timeline and summed by kind. Listens only while it exists; it costs the measured rounds a little
/// (an event per command), which is why the latency figure itself is measured without it.
/// </summary>
public sealed class PublishTimeline : IDisposable, IObserver<DiagnosticListener>, IObserver<KeyValuePair<string, object?>>
{
    /// <summary>One step: when it started (Stopwatch ticks), how long it took, what it was.</summary>
    public sealed record Step(long Start, double Milliseconds, string Kind, string What);

    readonly ConcurrentQueue<Step> steps = new();
    readonly ActivityListener http;
    readonly IDisposable allListeners;
    readonly List<IDisposable> subscriptions = [];

    public PublishTimeline()
    {
        http = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "System.Net.Http",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            ActivityStopped = a => steps.Enqueue(new Step(Stopwatch.GetTimestamp() - (long)(a.Duration.TotalSeconds * Stopwatch.Frequency),
                a.Duration.TotalMilliseconds, "http", $"{a.GetTagItem("http.request.method")} {a.GetTagItem("url.full")}")),
        };
        ActivitySource.AddActivityListener(http);
        allListeners = DiagnosticListener.AllListeners.Subscribe(this);
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
        http.Dispose();
        allListeners.Dispose();
        lock (subscriptions) foreach (var s in subscriptions) s.Dispose();
    }
}
