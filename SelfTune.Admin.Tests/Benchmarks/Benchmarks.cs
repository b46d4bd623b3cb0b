using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.EntityFrameworkCore;
using SelfTune.Admin.Data;
using SelfTune.Admin.Registry.Packaging;
using SelfTune.Admin.Tests.Fakes;
using SelfTune.Admin.Tests.GitHub;
using SelfTune.Admin.Tests.Packaging;
using Xunit.Abstractions;

namespace SelfTune.Admin.Tests.Benchmarks;

/// <summary>
/// Figures, not pass/fail: how fast the hot paths are on this machine. Excluded from ./test.sh; run with
/// <c>dotnet test SelfTune.Admin.Tests -c Release --filter Category=Benchmark --logger "console;verbosity=detailed"</c>.
/// Nothing here asserts a duration — only that the work was done.
/// </summary>
[Trait("Category", "Benchmark")]
[Collection(BenchmarkCollection.Name)]
public sealed class Benchmarks(ITestOutputHelper output)
{
    void Report(string what, double value, string unit) => BenchmarkTable.Add(output, what, $"{value:N1} {unit}");

    static byte[] SkillArchive(int files, int fileSize)
    {
        using var tar = new TarBuilder();
        tar.File("SKILL.md", "---\nname: bench\ndescription: benchmark skill\n---\n# Bench\n");
        var random = new Random(42);
        for (var i = 0; i < files; i++)
        {
            var content = new byte[fileSize];
            random.NextBytes(content);
            tar.File($"data/file-{i:D4}.bin", content);
        }
        return tar.ToTarGz();
    }

    [Fact]
    public async Task Packaging_validate_and_repack_throughput()
    {
        var archive = SkillArchive(files: 500, fileSize: 16 * 1024); // 8 MiB of incompressible content
        const int rounds = 10;
        await SelfTune.Admin.Registry.Packaging.SkillArchive.ValidateAsync(new MemoryStream(archive), PackagingLimits.Default); // warm-up
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < rounds; i++)
        {
            var package = await SelfTune.Admin.Registry.Packaging.SkillArchive.ValidateAsync(new MemoryStream(archive), PackagingLimits.Default);
            Assert.Equal(501, package.Files.Count);
        }
        var seconds = watch.Elapsed.TotalSeconds;
        Report("ValidateAsync, 501 files / 8 MiB upload", rounds * 8.0 / seconds, "MiB/s");

        using var github = new TarBuilder();
        github.GlobalHeader(new string('a', 40));
        github.File("acme-skills-aaaaaaa/skills/bench/SKILL.md", "---\nname: bench\ndescription: b\n---\n");
        var random = new Random(7);
        for (var i = 0; i < 500; i++)
        {
            var content = new byte[16 * 1024];
            random.NextBytes(content);
            github.File($"acme-skills-aaaaaaa/skills/bench/f{i:D4}.bin", content);
            github.File($"acme-skills-aaaaaaa/other/f{i:D4}.bin", content);
        }
        var tarball = github.ToTarGz();
        watch.Restart();
        for (var i = 0; i < rounds; i++)
        {
            using var output = new MemoryStream();
            // A spool file deleted on close, as the app's ArchiveStore.CreateScratchFile gives.
            await SelfTune.Admin.Registry.Packaging.SkillArchive.RepackAsync(new MemoryStream(tarball), "skills/bench", output,
                () => new FileStream(Path.Combine(Path.GetTempPath(), "selftune-bench-" + Guid.NewGuid().ToString("N")), FileMode.CreateNew,
                    FileAccess.ReadWrite, FileShare.None, 81920, FileOptions.DeleteOnClose | FileOptions.Asynchronous),
                PackagingLimits.Default);
        }
        Report("RepackAsync, 16 MiB repo tarball -> 8 MiB skill", rounds * 16.0 / watch.Elapsed.TotalSeconds, "MiB/s of tarball");
    }

    [Fact]
    public async Task Api_key_requests_and_webhook_ingest()
    {
        await using var harness = new BenchmarkHarness();
        await harness.InitializeAsync();
        var api = harness.Api;

        // Authenticated reads: API-key lookup + org-scoped query per request.
        const int reads = 2000;
        await api.GetAsync("/api/v1/registry");
        var watch = Stopwatch.StartNew();
        await Parallel.ForAsync(0, reads, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (_, ct) =>
        {
            using var response = await api.GetAsync("/api/v1/registry", ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        });
        Report("GET /api/v1/registry with an API key (8 concurrent)", reads / watch.Elapsed.TotalSeconds, "requests/s");

        // Webhook ingest: signature check, delivery + job stored in one transaction, 202.
        var gh = harness.H.GitHub;
        var installation = gh.AddInstallation("bench-org");
        var repo = gh.AddRepo(installation, "bench-org", "unconnected");
        var sha = gh.PushCommit(repo, "main", GitHubHarness.Skill("bench"));
        var payload = gh.Payloads.Push(repo, "refs/heads/main", after: sha);
        const int deliveries = 500;
        watch.Restart();
        await Parallel.ForAsync(0, deliveries, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (_, ct) =>
        {
            using var response = await harness.H.SendWebhookAsync("push", payload);
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        });
        var ingest = watch.Elapsed.TotalSeconds;
        Report("POST /api/v1/github/webhook accepted (8 concurrent)", deliveries / ingest, "deliveries/s");

        // Background processing of those deliveries by the durable queue (4 workers).
        while (await harness.H.App.WithDbAsync(db => db.Deliveries.CountAsync(d => d.Outcome == DeliveryOutcome.Queued)) > 0)
            await Task.Delay(50); // a benchmark measuring a backlog drain: polling is the measurement itself
        Report("Deliveries processed by the queue, end to end", deliveries / watch.Elapsed.TotalSeconds, "deliveries/s");
    }

    sealed class BenchmarkHarness : IAsyncDisposable
    {
        public GitHubHarness H { get; } = new();
        public HttpClient Api => H.Api;
        public Task InitializeAsync() => H.InitializeAsync();
        public async ValueTask DisposeAsync() => await H.DisposeAsync();
    }
}
