using System.Net;
using System.Text;
using SelfTune.Admin.Auth;
using SelfTune.Admin.Tests.Infrastructure;
using Xunit.Abstractions;
using static SelfTune.Admin.Tests.Registry.RegistryApiClient;

namespace SelfTune.Admin.Tests.Packaging;

/// <summary>
/// Issue 8, item 1: a deeply nested SKILL.md overflowed the stack while its YAML was loaded, and a stack overflow ends
/// the process whatever catches it. So this runs the real app as a child process: an in-process host would take the
/// test runner down with it. Each upload is answered 4xx naming the rule, and the same process answers afterwards.
/// </summary>
public sealed class HostileSkillMdProcessTests(ITestOutputHelper output) : IAsyncLifetime
{
    readonly string dataPath = Path.Combine(Path.GetTempPath(), "selftune-tests", "hostile-md-" + Guid.NewGuid().ToString("N"));
    readonly string apiKey = ApiKeyFormat.Generate();
    AppProcess app = null!;

    public async Task InitializeAsync() =>
        app = await AppProcess.StartAsync(new Dictionary<string, string?> { ["Storage:DataPath"] = dataPath, ["Development:ApiKey"] = apiKey });

    public async Task DisposeAsync()
    {
        await app.DisposeAsync();
        output.WriteLine($"---- app pid {app.ProcessId} ----\n{app.Output}");
        try { Directory.Delete(dataPath, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    static byte[] SkillWithFrontMatter(string yaml) =>
        new TarBuilder().File("SKILL.md", $"---\nname: hostile\n{yaml}---\n# Hostile\n").ToTarGz();

    public static IEnumerable<(string Kind, string Yaml, string Rule)> HostileDocuments =>
    [
        // The document of the issue: 80 KB of brackets, over the front matter size bound.
        ("50,000 brackets", "description: " + new string('[', 50_000) + new string(']', 50_000) + "\n", "64 KiB"),
        // Under the size bound, so the nesting bound is what stops them; 30,000 levels overflow a thread pool thread's stack.
        ("30,000 braces", "description: " + new string('{', 30_000) + new string('}', 30_000) + "\n", "more than 32 levels deep"),
        ("30,000 block sequences", "description:\n" + new StringBuilder().Insert(0, "- ", 30_000) + "x\n", "more than 32 levels deep"),
    ];

    [Fact]
    public async Task Deeply_nested_front_matter_is_a_4xx_and_the_process_stays_up()
    {
        using var api = app.CreateClient(apiKey);
        var entryId = (await CreateEntryAsync(api, UniqueName("hostile"))).GetProperty("id").GetString()!;

        foreach (var (kind, yaml, rule) in HostileDocuments)
        {
            HttpResponseMessage response;
            try
            {
                response = await api.PostAsync($"/api/v1/registry/{entryId}/versions", Multipart(new { version = "1.0.0" }, SkillWithFrontMatter(yaml)));
            }
            catch (HttpRequestException e)
            {
                throw new InvalidOperationException($"{kind}: no answer (the app exited: {app.HasExited}).\n{app.Output}", e);
            }

            using (response)
            {
                var problem = await ExpectProblemAsync(response, HttpStatusCode.UnprocessableEntity, "invalid_skill");
                var detail = problem.GetProperty("detail").GetString()!;
                Assert.True(detail.StartsWith("SKILL.md front matter", StringComparison.Ordinal) && detail.Contains(rule, StringComparison.Ordinal),
                    $"{kind}: {detail}");
            }
            Assert.False(app.HasExited, $"{kind}: the app exited.\n{app.Output}");
        }

        // The same process goes on answering: a valid push to the same entry is stored.
        var version = await PushAsync(api, entryId, "1.0.0", SkillArchive());
        Assert.Equal("1.0.0", version.GetProperty("version").GetString());
        Assert.False(app.HasExited);
    }
}
