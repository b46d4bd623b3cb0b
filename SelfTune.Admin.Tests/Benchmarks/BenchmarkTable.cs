using Xunit.Abstractions;

namespace SelfTune.Admin.Tests.Benchmarks;

/// <summary>
/// The one table the benchmark command prints: every benchmark adds its figures here as rows (figure, value, floor
/// measured in the same run, ratio, target). Rows go to the test output and are appended to the file named by
/// <c>SELFTUNE_BENCH_TABLE</c> (the benchmark script sets it, then prints the file as one table with the load).
/// </summary>
public static class BenchmarkTable
{
    static readonly Lock FileLock = new();

    /// <param name="figure">What was measured, e.g. "Webhook ingest, 8 connections".</param>
    /// <param name="value">The figure with its unit, e.g. "5,210 req/s, p99 9.8 ms".</param>
    /// <param name="floor">The floor measured in the same run with its unit, or "" when the figure has none.</param>
    /// <param name="ratio">value / floor as the target states it (e.g. "1.12×"), or "".</param>
    /// <param name="target">The target, e.g. "≥ 1.0×", and whether it is met, or "".</param>
    public static void Add(ITestOutputHelper output, string figure, string value, string floor = "", string ratio = "", string target = "")
    {
        var row = string.Join('\t', figure, value, floor, ratio, target);
        output.WriteLine(row);
        var path = Environment.GetEnvironmentVariable("SELFTUNE_BENCH_TABLE");
        if (string.IsNullOrEmpty(path)) return;
        lock (FileLock) File.AppendAllText(path, row.Replace('\n', ' ') + "\n");
    }

    /// <summary>A line printed after the table (e.g. a timeline behind a row): to the test output and to <c>SELFTUNE_BENCH_TABLE</c>.details.</summary>
    public static void Detail(ITestOutputHelper output, string line)
    {
        output.WriteLine(line);
        var path = Environment.GetEnvironmentVariable("SELFTUNE_BENCH_TABLE");
        if (string.IsNullOrEmpty(path)) return;
        lock (FileLock) File.AppendAllText(path + ".details", line + "\n");
    }
}

/// <summary>
/// The benchmark classes, one at a time and alone: xunit runs test classes side by side, and a benchmark's figures
/// (throughput, p99, the process's CPU per publish) are only true of a process that does nothing else meanwhile. Before
/// this, a whole run measured the open-page rows while the ingest benchmark loaded the same process.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class BenchmarkCollection
{
    public const string Name = "Benchmarks";
}
