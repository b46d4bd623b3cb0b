using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Primitives;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Octokit;
using WH = Octokit.Webhooks;

namespace SelfTune.Admin.Tests.Fakes;

/// <summary>Exercises <see cref="FakeGitHub"/> with the real Octokit client.</summary>
public sealed class FakeGitHubTests : IAsyncLifetime
{
    private FakeGitHub _fake = null!;
    private FakeInstallation _inst = null!;

    public async Task InitializeAsync()
    {
        _fake = await FakeGitHub.StartAsync();
        _inst = _fake.AddInstallation("acme-org");
    }

    public async Task DisposeAsync()
    {
        var errors = _fake.InternalErrors;
        await _fake.DisposeAsync();
        Assert.Empty(errors);
    }

    // ---------------------------------------------------------------- helpers

    /// <summary>Signs an App JWT from the PEM, as the product does.</summary>
    private static string SignJwt(string pem, string issuer, DateTimeOffset iat, DateTimeOffset exp)
    {
        var rsa = RSA.Create();
        rsa.ImportFromPem(pem);
        var key = new RsaSecurityKey(rsa) { CryptoProviderFactory = new CryptoProviderFactory { CacheSignatureProviders = false } };
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer,
            IssuedAt = iat.UtcDateTime,
            Expires = exp.UtcDateTime,
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.RsaSha256),
        });
    }

    private string ValidJwt()
    {
        var now = DateTimeOffset.UtcNow;
        return SignJwt(_fake.PrivateKeyPem, _fake.AppId.ToString(), now.AddSeconds(-60), now.AddMinutes(9));
    }

    private GitHubClient Client(Credentials? credentials = null)
    {
        var client = new GitHubClient(new ProductHeaderValue("test"), _fake.BaseUrl);
        if (credentials is not null) client.Credentials = credentials;
        return client;
    }

    private GitHubClient AppClient(string? jwt = null) => Client(new Credentials(jwt ?? ValidJwt(), AuthenticationType.Bearer));

    private async Task<GitHubClient> InstallationClient(FakeInstallation? inst = null)
    {
        var token = await AppClient().GitHubApps.CreateInstallationToken((inst ?? _inst).Id);
        return Client(new Credentials(token.Token));
    }

    private static Dictionary<string, byte[]> Files(params (string Path, string Text)[] files) =>
        files.ToDictionary(f => f.Path, f => Encoding.UTF8.GetBytes(f.Text));

    private (FakeRepo Repo, string Sha) RepoWithSkill(string visibility = "private")
    {
        var repo = _fake.AddRepo(_inst, "acme-org", "skills", visibility: visibility);
        var sha = _fake.PushCommit(repo, "main", Files(
            ("skills/foo/SKILL.md", "---\nname: foo\ndescription: Foo\n---\n# Foo\n"),
            ("skills/foo/scripts/run.sh", "echo hi\n"),
            ("README.md", "# Skills\n")), "first");
        return (repo, sha);
    }

    private static List<TarEntry> ReadTarGz(byte[] archive, Dictionary<string, string>? contents = null)
    {
        var entries = new List<TarEntry>();
        using var gz = new GZipStream(new MemoryStream(archive), CompressionMode.Decompress);
        using var reader = new TarReader(gz);
        while (reader.GetNextEntry(copyData: true) is { } e)
        {
            entries.Add(e);
            if (contents is not null && e.EntryType == TarEntryType.RegularFile)
                contents[e.Name] = new StreamReader(e.DataStream!).ReadToEnd();
        }
        return entries;
    }

    // ---------------------------------------------------------------- app (JWT)

    [Fact]
    public async Task App_and_installation_are_served_to_a_jwt()
    {
        var app = AppClient();
        var me = await app.GitHubApps.GetCurrent();
        Assert.Equal(_fake.AppId, me.Id);
        Assert.Equal("selftune-test", me.Slug);

        var got = await app.GitHubApps.GetInstallationForCurrent(_inst.Id);
        Assert.Equal(_inst.Id, got.Id);
        Assert.Equal("acme-org", got.Account.Login);
        Assert.Equal(AccountType.Organization, got.TargetType.Value);
        Assert.Equal(_fake.AppId, got.AppId);
        Assert.Equal(InstallationReadWritePermissionLevel.Read, got.Permissions.Contents!.Value.Value);
        Assert.Equal(InstallationReadWritePermissionLevel.Read, got.Permissions.Metadata!.Value.Value);
        Assert.Equal(InstallationReadWritePermissionLevel.Write, got.Permissions.Checks!.Value.Value);
        Assert.Equal(InstallationReadWritePermissionLevel.Write, got.Permissions.Statuses!.Value.Value);
        Assert.Equal(InstallationRepositorySelection.All, got.RepositorySelection.Value);
        Assert.Null(got.SuspendedAt);

        var noChecks = _fake.AddInstallation("solo", "User", checksWrite: false, statusesWrite: false);
        var other = await app.GitHubApps.GetInstallationForCurrent(noChecks.Id);
        Assert.Equal(AccountType.User, other.TargetType.Value);
        Assert.Null(other.Permissions.Checks);

        Assert.Equal(2, (await app.GitHubApps.GetAllInstallationsForCurrent()).Count);
        await Assert.ThrowsAsync<NotFoundException>(() => app.GitHubApps.GetInstallationForCurrent(999));
    }

    [Fact]
    public async Task Bad_app_jwts_are_rejected_with_401()
    {
        var now = DateTimeOffset.UtcNow;
        using var otherKey = RSA.Create(2048);
        string[] bad =
        [
            SignJwt(otherKey.ExportRSAPrivateKeyPem(), _fake.AppId.ToString(), now.AddSeconds(-60), now.AddMinutes(9)), // wrong key
            SignJwt(_fake.PrivateKeyPem, "1", now.AddSeconds(-60), now.AddMinutes(9)),                                   // wrong iss
            SignJwt(_fake.PrivateKeyPem, _fake.AppId.ToString(), now.AddMinutes(-20), now.AddMinutes(-11)),              // expired
            SignJwt(_fake.PrivateKeyPem, _fake.AppId.ToString(), now.AddSeconds(-60), now.AddMinutes(20)),               // too long
            "not-a-jwt",
        ];
        foreach (var jwt in bad)
        {
            var ex = await Assert.ThrowsAsync<AuthorizationException>(() => AppClient(jwt).GitHubApps.GetInstallationForCurrent(_inst.Id));
            Assert.Equal(HttpStatusCode.Unauthorized, ex.StatusCode);
        }
        var first = await Assert.ThrowsAsync<AuthorizationException>(() => AppClient(bad[0]).GitHubApps.GetCurrent());
        Assert.Equal("A JSON web token could not be decoded", first.ApiError.Message);

        // an installation token is no App JWT
        var token = await AppClient().GitHubApps.CreateInstallationToken(_inst.Id);
        await Assert.ThrowsAsync<AuthorizationException>(() => Client(new Credentials(token.Token)).GitHubApps.GetCurrent());
        Assert.Equal(7, _fake.RequestLog.Count(r => r.StatusCode == 401));
    }

    [Fact]
    public async Task Tokens_expire_and_suspended_installations_get_403()
    {
        var app = AppClient();
        var token = await app.GitHubApps.CreateInstallationToken(_inst.Id);
        Assert.StartsWith("ghs_", token.Token);
        Assert.InRange(token.ExpiresAt, DateTimeOffset.UtcNow.AddMinutes(59), DateTimeOffset.UtcNow.AddMinutes(61));
        Assert.Equal(1, _fake.InstallationTokensIssued);

        var client = Client(new Credentials(token.Token));
        await client.GitHubApps.Installation.GetAllRepositoriesForCurrent();
        _fake.ExpireAllTokens();
        await Assert.ThrowsAsync<AuthorizationException>(() => client.GitHubApps.Installation.GetAllRepositoriesForCurrent());
        await Assert.ThrowsAsync<AuthorizationException>(() => Client(new Credentials("ghs_bogus")).GitHubApps.Installation.GetAllRepositoriesForCurrent());

        _fake.TokenLifetime = TimeSpan.FromMinutes(10);
        var shortLived = await app.GitHubApps.CreateInstallationToken(_inst.Id);
        Assert.InRange(shortLived.ExpiresAt, DateTimeOffset.UtcNow.AddMinutes(9), DateTimeOffset.UtcNow.AddMinutes(11));

        _inst.Suspended = true;
        Assert.NotNull((await app.GitHubApps.GetInstallationForCurrent(_inst.Id)).SuspendedAt);
        await Assert.ThrowsAsync<ForbiddenException>(() => app.GitHubApps.CreateInstallationToken(_inst.Id));
        await Assert.ThrowsAsync<ForbiddenException>(() => Client(new Credentials(shortLived.Token)).GitHubApps.Installation.GetAllRepositoriesForCurrent());

        _fake.RemoveInstallation(_inst);
        await Assert.ThrowsAsync<NotFoundException>(() => app.GitHubApps.GetInstallationForCurrent(_inst.Id));
    }

    [Fact]
    public async Task Manifest_code_converts_once()
    {
        _fake.RegisterManifestCode("code-123");
        var anonymous = Client();
        var created = await anonymous.GitHubApps.CreateAppFromManifest("code-123");
        Assert.Equal(_fake.AppId, created.Id);
        Assert.Equal(_fake.AppSlug, created.Slug);
        Assert.Equal(_fake.PrivateKeyPem, created.Pem);
        Assert.Equal(_fake.WebhookSecret, created.WebhookSecret);
        Assert.False(string.IsNullOrEmpty(created.ClientSecret));
        await Assert.ThrowsAsync<NotFoundException>(() => anonymous.GitHubApps.CreateAppFromManifest("code-123"));
    }

    // ---------------------------------------------------------------- installation token

    [Fact]
    public async Task Installation_repositories_are_paged_with_link_headers()
    {
        for (var i = 0; i < 65; i++) _fake.AddRepo(_inst, "acme-org", $"repo-{i:D2}");
        var elsewhere = _fake.AddInstallation("other-org");
        _fake.AddRepo(elsewhere, "other-org", "not-mine");
        var client = await InstallationClient();

        var all = await client.GitHubApps.Installation.GetAllRepositoriesForCurrent();
        Assert.Equal(65, all.TotalCount);
        Assert.Equal(65, all.Repositories.Count);
        Assert.Equal(65, all.Repositories.Select(r => r.Id).Distinct().Count());
        Assert.DoesNotContain(all.Repositories, r => r.Name == "not-mine");
        Assert.Equal(3, _fake.CountRequests("/installation/repositories"));

        var paged = await client.GitHubApps.Installation.GetAllRepositoriesForCurrent(new ApiOptions { PageSize = 30 });
        Assert.Equal(65, paged.Repositories.Count);
        Assert.Equal(6, _fake.CountRequests("/installation/repositories"));
        Assert.Equal(1, _fake.CountRequests("/installation/repositories?per_page=30&page=3"));

        // raw Link header as GitHub writes it
        using var http = new HttpClient();
        using var req = new HttpRequestMessage(HttpMethod.Get, new Uri(_fake.ApiUrl, "installation/repositories?per_page=30&page=2"));
        var token = await AppClient().GitHubApps.CreateInstallationToken(_inst.Id);
        req.Headers.Authorization = new("token", token.Token);
        using var resp = await http.SendAsync(req);
        var link = string.Join(",", resp.Headers.GetValues("Link"));
        Assert.Contains($"<{_fake.BaseUrl}api/v3/installation/repositories?per_page=30&page=3>; rel=\"next\"", link);
        Assert.Contains("page=3>; rel=\"last\"", link);
        Assert.Contains("page=1>; rel=\"prev\"", link);
        Assert.Contains("page=1>; rel=\"first\"", link);
    }

    [Fact]
    public async Task Repository_branch_commit_tags_refs_and_tree()
    {
        var (repo, first) = RepoWithSkill();
        var second = _fake.PushChanges(repo, "main", new Dictionary<string, byte[]?>
        {
            ["skills/bar/SKILL.md"] = Encoding.UTF8.GetBytes("---\nname: bar\ndescription: Bar\n---\n"),
            ["README.md"] = null,
        }, "second");
        _fake.PushTag(repo, "v1.0.0", first);
        _fake.PushTag(repo, "v1.1.0", second);
        var client = await InstallationClient();

        var r = await client.Repository.Get("acme-org", "skills");
        Assert.Equal(repo.Id, r.Id);
        Assert.Equal("acme-org/skills", r.FullName);
        Assert.Equal("main", r.DefaultBranch);
        Assert.True(r.Private);
        Assert.Equal(RepositoryVisibility.Private, r.Visibility);
        Assert.Equal("acme-org", r.Owner.Login);
        Assert.Equal($"{_fake.BaseUrl}acme-org/skills", r.HtmlUrl);
        Assert.Equal(r.Id, (await client.Repository.Get(repo.Id)).Id);

        var branch = await client.Repository.Branch.Get("acme-org", "skills", "main");
        Assert.Equal(second, branch.Commit.Sha);
        await Assert.ThrowsAsync<NotFoundException>(() => client.Repository.Branch.Get("acme-org", "skills", "nope"));
        Assert.Single(await client.Repository.Branch.GetAll("acme-org", "skills"));

        var commit = await client.Repository.Commit.Get("acme-org", "skills", "v1.0.0");
        Assert.Equal(first, commit.Sha);
        Assert.Equal("first", commit.Commit.Message);
        Assert.Empty(commit.Parents);
        Assert.Equal(first, (await client.Repository.Commit.Get("acme-org", "skills", second)).Parents.Single().Sha);
        Assert.Equal(second, (await client.Repository.Commit.Get("acme-org", "skills", "main")).Sha);
        await Assert.ThrowsAsync<ApiValidationException>(() => client.Repository.Commit.Get("acme-org", "skills", "no-such-ref"));

        var tags = await client.Repository.GetAllTags("acme-org", "skills");
        Assert.Equal(["v1.1.0", "v1.0.0"], tags.Select(t => t.Name));
        Assert.Equal(first, tags.Single(t => t.Name == "v1.0.0").Commit.Sha);

        var heads = await client.Git.Reference.Get("acme-org", "skills", "heads/main");
        Assert.Equal(second, heads.Object.Sha);
        Assert.Equal("refs/heads/main", heads.Ref);
        Assert.Equal(2, (await client.Git.Reference.GetAllForSubNamespace("acme-org", "skills", "tags")).Count);

        var tree = await client.Git.Tree.GetRecursive("acme-org", "skills", second);
        Assert.False(tree.Truncated);
        var skillFolders = tree.Tree.Where(t => t.Type.Value == TreeType.Blob && t.Path.EndsWith("/SKILL.md"))
            .Select(t => t.Path[..^"/SKILL.md".Length]).Order().ToArray();
        Assert.Equal(["skills/bar", "skills/foo"], skillFolders);
        Assert.Contains(tree.Tree, t => t.Path == "skills/foo/scripts" && t.Type.Value == TreeType.Tree);
        Assert.DoesNotContain(tree.Tree, t => t.Path == "README.md");
        Assert.Equal(2, (await client.Git.Tree.Get("acme-org", "skills", first)).Tree.Count); // README.md + skills

        // git-compatible object ids: the empty blob and a known tree
        Assert.Equal("e69de29bb2d1d6434b8b29ae775ad8c2e48c5391", FakeGitObjects.BlobSha([]));
    }

    [Fact]
    public async Task Tags_are_paged()
    {
        var (repo, sha) = RepoWithSkill();
        for (var i = 0; i < 35; i++) _fake.PushTag(repo, $"v0.{i}.0", sha);
        var client = await InstallationClient();
        Assert.Equal(35, (await client.Repository.GetAllTags("acme-org", "skills")).Count);
        Assert.Equal(2, _fake.CountRequests("/repos/acme-org/skills/tags"));
        var one = await client.Repository.GetAllTags("acme-org", "skills", new ApiOptions { PageSize = 10, PageCount = 1, StartPage = 2 });
        Assert.Equal(10, one.Count);
    }

    [Fact]
    public async Task Contents_are_served_as_json_and_raw()
    {
        var (_, sha) = RepoWithSkill();
        var client = await InstallationClient();
        var file = Assert.Single(await client.Repository.Content.GetAllContentsByRef("acme-org", "skills", "skills/foo/SKILL.md", sha));
        Assert.StartsWith("---\nname: foo", file.Content);
        var dir = await client.Repository.Content.GetAllContentsByRef("acme-org", "skills", "skills/foo", "main");
        Assert.Equal(["SKILL.md", "scripts"], dir.Select(d => d.Name).Order(StringComparer.Ordinal));
        var raw = await client.Repository.Content.GetRawContentByRef("acme-org", "skills", "README.md", "main");
        Assert.Equal("# Skills\n", Encoding.UTF8.GetString(raw));
        await Assert.ThrowsAsync<NotFoundException>(() => client.Repository.Content.GetAllContentsByRef("acme-org", "skills", "missing.md", "main"));
    }

    [Fact]
    public async Task Tarball_redirects_to_codeload_and_matches_github_layout()
    {
        var (repo, sha) = RepoWithSkill();
        _fake.PushCommit(repo, "dev", Files(("a.txt", "a")), symlinks: new Dictionary<string, string> { ["link"] = "a.txt" });
        var client = await InstallationClient();

        var archive = await client.Repository.Content.GetArchive("acme-org", "skills", ArchiveFormat.Tarball, sha);
        Assert.Equal(1, _fake.CountRequests($"/repos/acme-org/skills/tarball/{sha}"));
        Assert.Equal(1, _fake.CountRequests($"/_codeload/acme-org/skills/legacy.tar.gz/{sha}"));
        Assert.Equal(302, _fake.RequestLog.Single(r => r.Path.Contains("/tarball/")).StatusCode);

        var contents = new Dictionary<string, string>();
        var entries = ReadTarGz(archive, contents);
        var global = Assert.IsType<PaxGlobalExtendedAttributesTarEntry>(entries[0]);
        Assert.Equal(sha, global.GlobalExtendedAttributes["comment"]);
        var top = $"acme-org-skills-{sha[..7]}/";
        Assert.Equal(top, entries[1].Name);
        Assert.All(entries.Skip(1), e => Assert.StartsWith(top, e.Name));
        Assert.Contains(entries, e => e.EntryType == TarEntryType.Directory && e.Name == top + "skills/foo/");
        Assert.Equal("---\nname: foo\ndescription: Foo\n---\n# Foo\n", contents[top + "skills/foo/SKILL.md"]);
        Assert.Equal(3, contents.Count);

        // by branch name, and served directly (no redirect)
        _fake.TarballRedirects = false;
        var direct = await client.Repository.Content.GetArchive("acme-org", "skills", ArchiveFormat.Tarball, "main");
        Assert.Equal(archive, direct);
        Assert.Equal(_fake.BuildTarball(repo, sha), direct);

        var dev = ReadTarGz(await client.Repository.Content.GetArchive("acme-org", "skills", ArchiveFormat.Tarball, "dev"));
        var link = Assert.Single(dev, e => e.EntryType == TarEntryType.SymbolicLink);
        Assert.Equal("a.txt", link.LinkName);
    }

    [Fact]
    public async Task Check_run_is_created_and_completed()
    {
        var (_, sha) = RepoWithSkill();
        var client = await InstallationClient();

        var run = await client.Check.Run.Create("acme-org", "skills", new NewCheckRun("SelfTune publish: foo", sha)
        {
            Status = CheckStatus.InProgress,
            Output = new NewCheckRunOutput("Publishing", "Packaging the skill"),
        });
        Assert.Equal(CheckStatus.InProgress, run.Status.Value);
        Assert.Equal(sha, run.HeadSha);
        Assert.Null(run.Conclusion);
        Assert.Equal(_fake.AppId, run.App.Id);

        var done = await client.Check.Run.Update("acme-org", "skills", run.Id, new CheckRunUpdate
        {
            Conclusion = CheckConclusion.Success,
            Output = new NewCheckRunOutput("Published 1.0.0", "3 files, 120 bytes"),
        });
        Assert.Equal(CheckStatus.Completed, done.Status.Value);
        Assert.Equal(CheckConclusion.Success, done.Conclusion!.Value.Value);
        Assert.NotNull(done.CompletedAt);

        var recorded = Assert.Single(_fake.CheckRuns);
        Assert.Equal(run.Id, recorded.Id);
        Assert.Equal("SelfTune publish: foo", recorded.Name);
        Assert.Equal(["in_progress", "completed"], recorded.StatusHistory);
        Assert.Equal("success", recorded.Conclusion);
        Assert.Equal("Published 1.0.0", recorded.Title);
        Assert.Equal("3 files, 120 bytes", recorded.Summary);

        await Assert.ThrowsAsync<ApiValidationException>(() =>
            client.Check.Run.Create("acme-org", "skills", new NewCheckRun("x", new string('0', 40))));
    }

    [Fact]
    public async Task Commit_status_is_created()
    {
        var (_, sha) = RepoWithSkill();
        var client = await InstallationClient();
        var status = await client.Repository.Status.Create("acme-org", "skills", sha, new NewCommitStatus
        {
            State = CommitState.Success,
            Context = "selftune/publish/abcd1234",
            Description = "Published 1.0.0",
            TargetUrl = "https://selftune.example/registry/1",
        });
        Assert.Equal(CommitState.Success, status.State.Value);
        Assert.Equal("selftune/publish/abcd1234", status.Context);
        Assert.Equal("selftune-test[bot]", status.Creator.Login);

        var recorded = Assert.Single(_fake.Statuses);
        Assert.Equal(sha, recorded.Sha);
        Assert.Equal("success", recorded.State);
        Assert.Equal("https://selftune.example/registry/1", recorded.TargetUrl);
        var combined = await client.Repository.Status.GetCombined("acme-org", "skills", sha);
        Assert.Equal(CommitState.Success, combined.State.Value);
    }

    [Fact]
    public async Task Writes_without_permission_get_403()
    {
        var limited = _fake.AddInstallation("limited-org", checksWrite: false, statusesWrite: false);
        var repo = _fake.AddRepo(limited, "limited-org", "skills");
        var sha = _fake.PushCommit(repo, "main", Files(("SKILL.md", "x")));
        var client = await InstallationClient(limited);

        var ex = await Assert.ThrowsAsync<ForbiddenException>(() =>
            client.Check.Run.Create("limited-org", "skills", new NewCheckRun("x", sha) { Status = CheckStatus.InProgress }));
        Assert.Equal("Resource not accessible by integration", ex.ApiError.Message);
        await Assert.ThrowsAsync<ForbiddenException>(() =>
            client.Repository.Status.Create("limited-org", "skills", sha, new NewCommitStatus { State = CommitState.Pending }));
        Assert.Empty(_fake.CheckRuns);

        limited.SetPermissions(checksWrite: true, statusesWrite: false);
        await client.Check.Run.Create("limited-org", "skills", new NewCheckRun("x", sha) { Status = CheckStatus.InProgress });
        Assert.Single(_fake.CheckRuns);
    }

    [Fact]
    public async Task Rename_transfer_and_removal()
    {
        var (repo, _) = RepoWithSkill();
        var client = await InstallationClient();

        _fake.RenameRepo(repo, "skills-renamed");
        var viaOldName = await client.Repository.Get("acme-org", "skills");
        Assert.Equal("skills-renamed", viaOldName.Name);
        Assert.Equal(repo.Id, viaOldName.Id);
        Assert.Contains(_fake.RequestLog, r => r.StatusCode == 301);

        var newOrg = _fake.AddInstallation("new-org");
        _fake.TransferRepo(repo, "new-org", newOrg);
        await Assert.ThrowsAsync<NotFoundException>(() => client.Repository.Get("new-org", "skills-renamed"));
        var moved = await (await InstallationClient(newOrg)).Repository.Get("new-org", "skills-renamed");
        Assert.Equal(repo.Id, moved.Id);
        Assert.Equal("new-org/skills-renamed", moved.FullName);

        _fake.RemoveRepoFromInstallation(newOrg, repo);
        Assert.Empty((await (await InstallationClient(newOrg)).GitHubApps.Installation.GetAllRepositoriesForCurrent()).Repositories);
    }

    // ---------------------------------------------------------------- faults

    [Fact]
    public async Task Secondary_and_primary_rate_limits_surface_in_octokit()
    {
        RepoWithSkill();
        var client = await InstallationClient();
        _fake.InjectFault(Fault.SecondaryRateLimit("/repos/acme-org/skills", retryAfterSeconds: 7));
        var ex = await Assert.ThrowsAsync<SecondaryRateLimitExceededException>(() => client.Repository.Get("acme-org", "skills"));
        Assert.Equal("7", ex.HttpResponse.Headers["Retry-After"]);
        Assert.Equal("skills", (await client.Repository.Get("acme-org", "skills")).Name);

        _fake.InjectFault(Fault.PrimaryRateLimit("/repos/acme-org/skills", resetInSeconds: 30));
        var primary = await Assert.ThrowsAsync<RateLimitExceededException>(() => client.Repository.Get("acme-org", "skills"));
        Assert.Equal(0, primary.Remaining);
        Assert.InRange(primary.Reset, DateTimeOffset.UtcNow.AddSeconds(20), DateTimeOffset.UtcNow.AddSeconds(40));
    }

    [Fact]
    public async Task Server_error_then_success()
    {
        _fake.AddRepo(_inst, "acme-org", "skills");
        var client = await InstallationClient();
        var fault = _fake.InjectFault(Fault.ServerError("/installation/repositories", times: 2, statusCode: 502));
        var ex = await Assert.ThrowsAsync<ApiException>(() => client.GitHubApps.Installation.GetAllRepositoriesForCurrent());
        Assert.Equal(HttpStatusCode.BadGateway, ex.StatusCode);
        await Assert.ThrowsAsync<ApiException>(() => client.GitHubApps.Installation.GetAllRepositoriesForCurrent());
        Assert.Equal(0, fault.Remaining);
        Assert.Single((await client.GitHubApps.Installation.GetAllRepositoriesForCurrent()).Repositories);
    }

    [Fact]
    public async Task A_write_GitHub_carried_out_before_losing_the_answer_is_there_for_the_next_lookup()
    {
        var (_, sha) = RepoWithSkill();
        var client = await InstallationClient();
        NewCheckRun Run(string externalId) => new("SelfTune publish: foo", sha) { Status = CheckStatus.InProgress, ExternalId = externalId };

        _fake.InjectFault(Fault.ActedThenServerError("/repos/acme-org/skills/check-runs").ForMethod("POST"));
        var lost = await Assert.ThrowsAsync<ApiException>(() => client.Check.Run.Create("acme-org", "skills", Run("a1")));
        Assert.Equal(HttpStatusCode.BadGateway, lost.StatusCode);
        _fake.InjectFault(Fault.ConnectionReset("/repos/acme-org/skills/check-runs", afterActing: true).ForMethod("POST"));
        await Assert.ThrowsAsync<HttpRequestException>(() => client.Check.Run.Create("acme-org", "skills", Run("a2")));
        _fake.InjectFault(Fault.ConnectionReset("/repos/acme-org/skills/check-runs").ForMethod("POST"));
        await Assert.ThrowsAsync<HttpRequestException>(() => client.Check.Run.Create("acme-org", "skills", Run("a3")));

        // Both writes that GitHub carried out are listed for the commit, with their external ids; the reset before acting made none.
        var all = await client.Check.Run.GetAllForReference("acme-org", "skills", sha,
            new CheckRunRequest { CheckName = "SelfTune publish: foo", Filter = CheckRunCompletedAtFilter.All });
        Assert.Equal(["a2", "a1"], all.CheckRuns.Select(r => r.ExternalId));
        // GitHub's default filter (latest) lists only the newest run of each name.
        var latest = await client.Check.Run.GetAllForReference("acme-org", "skills", sha, new CheckRunRequest { CheckName = "SelfTune publish: foo" });
        Assert.Equal("a2", Assert.Single(latest.CheckRuns).ExternalId);
        Assert.Equal([502, 0, 0], _fake.RequestLog.Where(r => r.Method == "POST" && r.Path.EndsWith("/check-runs")).Select(r => r.StatusCode));
    }

    [Fact]
    public async Task A_rate_limit_may_be_answered_429_with_retry_after()
    {
        RepoWithSkill();
        var client = await InstallationClient();
        _fake.InjectFault(Fault.SecondaryRateLimit("/repos/acme-org/skills", retryAfterSeconds: 3, statusCode: 429));
        var ex = await Assert.ThrowsAsync<ApiException>(() => client.Repository.Get("acme-org", "skills"));
        Assert.Equal(HttpStatusCode.TooManyRequests, ex.StatusCode);
        Assert.Equal("3", ex.HttpResponse.Headers["Retry-After"]);
    }

    [Fact]
    public async Task A_fault_selector_picks_faults_per_request()
    {
        RepoWithSkill();
        var client = await InstallationClient();
        _fake.FaultSelector = (method, path) => path.Contains("/repos/acme-org/skills/branches") ? Fault.ServerError(path, statusCode: 503) : null;
        var ex = await Assert.ThrowsAsync<ApiException>(() => client.Repository.Branch.Get("acme-org", "skills", "main"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ex.StatusCode);
        Assert.Equal("skills", (await client.Repository.Get("acme-org", "skills")).Name);
        _fake.FaultSelector = null;
        Assert.Equal("main", (await client.Repository.Branch.Get("acme-org", "skills", "main")).Name);
    }

    [Fact]
    public async Task Truncated_tarball_and_timeout()
    {
        var (_, sha) = RepoWithSkill();
        var client = await InstallationClient();
        _fake.InjectFault(Fault.TruncatedTarball("tarball"));
        // A cut-off body reaches the client as an I/O failure: HttpRequestException wrapping an IOException, or, when the
        // reset lands while the body is being read, the IOException itself ("connection reset by peer").
        var cut = await Assert.ThrowsAnyAsync<Exception>(() => client.Repository.Content.GetArchive("acme-org", "skills", ArchiveFormat.Tarball, sha));
        Assert.True(cut is IOException || cut is HttpRequestException { InnerException: IOException }, $"Expected an I/O failure, got {cut}");
        Assert.NotEmpty(ReadTarGz(await client.Repository.Content.GetArchive("acme-org", "skills", ArchiveFormat.Tarball, sha)));

        _fake.InjectFault(Fault.Timeout("/repos/acme-org/skills", TimeSpan.FromSeconds(5)));
        var impatient = await InstallationClient();
        impatient.SetRequestTimeout(TimeSpan.FromMilliseconds(300));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => impatient.Repository.Get("acme-org", "skills"));
        Assert.Equal("skills", (await client.Repository.Get("acme-org", "skills")).Name);
    }

    // ---------------------------------------------------------------- web + webhooks

    [Fact]
    public async Task Browser_install_redirects_to_setup_url()
    {
        _fake.SetupUrl = new Uri("http://localhost:5123/settings/github");
        _fake.NextInstallForBrowser = _inst;
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });
        using var resp = await http.GetAsync(new Uri(_fake.BaseUrl, "apps/selftune-test/installations/new?state=s%2Bt%20x"));
        Assert.Equal(HttpStatusCode.Found, resp.StatusCode);
        Assert.Equal($"http://localhost:5123/settings/github?installation_id={_inst.Id}&setup_action=install&state=s%2Bt%20x",
            resp.Headers.Location!.AbsoluteUri);
    }

    /// <summary>When GitHub created and last updated an installation (Octokit's Installation lacks both).</summary>
    public sealed class InstallationTimes
    {
        public DateTimeOffset CreatedAt { get; set; }
        public DateTimeOffset UpdatedAt { get; set; }
    }

    // ---------------------------------------------------------------- user authorization (OAuth web flow)

    /// <summary>Octokit's OAuth client against the fake's web root (where github.com serves /login/oauth/...).</summary>
    private GitHubClient WebClient() =>
        new(new Connection(new ProductHeaderValue("test"), _fake.BaseUrl));

    private async Task<string> AuthorizeAsync(string githubUser, string state = "s1")
    {
        _fake.CallbackUrl = new Uri("http://localhost:5123/settings/github/callback");
        _fake.BrowserUser = githubUser;
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });
        using var resp = await http.GetAsync(new Uri(_fake.BaseUrl,
            $"login/oauth/authorize?client_id={_fake.ClientId}&state={state}&redirect_uri={Uri.EscapeDataString("http://localhost:5123/settings/github/callback")}"));
        Assert.Equal(HttpStatusCode.Found, resp.StatusCode);
        var location = resp.Headers.Location!;
        Assert.Equal("http://localhost:5123/settings/github/callback", location.GetLeftPart(UriPartial.Path));
        var query = System.Web.HttpUtility.ParseQueryString(location.Query);
        Assert.Equal(state, query["state"]);
        return query["code"]!;
    }

    [Fact]
    public async Task User_authorization_code_works_once_and_its_token_lists_the_installations_the_user_can_access()
    {
        _fake.AddUser("octocat", "acme-org");
        var own = _fake.AddInstallation("octocat", "User");
        var elsewhere = _fake.AddInstallation("elsewhere-org");
        var code = await AuthorizeAsync("octocat");

        var token = await WebClient().Oauth.CreateAccessToken(new OauthTokenRequest(_fake.ClientId, _fake.ClientSecret, code));
        Assert.Null(token.Error);
        Assert.StartsWith("ghu_", token.AccessToken);
        var again = await WebClient().Oauth.CreateAccessToken(new OauthTokenRequest(_fake.ClientId, _fake.ClientSecret, code));
        Assert.Equal("bad_verification_code", again.Error);
        Assert.Null(again.AccessToken);

        var user = Client(new Credentials(token.AccessToken, AuthenticationType.Bearer));
        var listed = await user.GitHubApps.GetAllInstallationsForCurrentUser();
        Assert.Equal([_inst.Id, own.Id], listed.Installations.Select(i => i.Id).Order());
        Assert.Equal(2, listed.TotalCount);
        Assert.DoesNotContain(listed.Installations, i => i.Id == elsewhere.Id);
        var paged = await user.GitHubApps.GetAllInstallationsForCurrentUser(new ApiOptions { PageSize = 1 });
        Assert.Equal([_inst.Id, own.Id], paged.Installations.Select(i => i.Id).Order());

        // An installation token is not a user: GitHub refuses to list installations for it.
        var installationClient = await InstallationClient();
        await Assert.ThrowsAsync<ForbiddenException>(() => installationClient.GitHubApps.GetAllInstallationsForCurrentUser());
    }

    [Fact]
    public async Task Access_token_checks_the_client_and_answers_form_encoded_unless_asked_for_json()
    {
        _fake.AddUser("form-user");
        var wrongSecret = await WebClient().Oauth.CreateAccessToken(new OauthTokenRequest(_fake.ClientId, "not-the-secret", await AuthorizeAsync("form-user")));
        Assert.Equal("incorrect_client_credentials", wrongSecret.Error);

        var code = await AuthorizeAsync("form-user");
        using var http = new HttpClient();
        using var form = await http.PostAsync(new Uri(_fake.BaseUrl, "login/oauth/access_token"), new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["client_id"] = _fake.ClientId, ["client_secret"] = _fake.ClientSecret, ["code"] = code,
        }));
        var body = System.Web.HttpUtility.ParseQueryString(await form.Content.ReadAsStringAsync());
        Assert.StartsWith("ghu_", body["access_token"]);
        Assert.Equal("bearer", body["token_type"]);
    }

    [Fact]
    public async Task Authorize_refuses_an_unknown_client_and_a_redirect_uri_outside_the_callback()
    {
        _fake.CallbackUrl = new Uri("http://localhost:5123/settings/github/callback");
        _fake.BrowserUser = "someone";
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });
        using var unknown = await http.GetAsync(new Uri(_fake.BaseUrl, "login/oauth/authorize?client_id=nope&state=x"));
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);

        using var elsewhere = await http.GetAsync(new Uri(_fake.BaseUrl,
            $"login/oauth/authorize?client_id={_fake.ClientId}&state=x&redirect_uri={Uri.EscapeDataString("http://evil.example/settings/github/callback")}"));
        Assert.Equal(HttpStatusCode.Found, elsewhere.StatusCode);
        Assert.Equal("http://localhost:5123/settings/github/callback?error=redirect_uri_mismatch&state=x", elsewhere.Headers.Location!.AbsoluteUri);
    }

    [Fact]
    public async Task Browser_install_with_user_authorization_redirects_to_the_callback_with_a_code_for_the_installer()
    {
        _fake.CallbackUrl = new Uri("http://localhost:5123/settings/github/callback");
        _fake.BrowserUser = "installer";
        _fake.NextInstallForBrowser = _inst;
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });
        using var resp = await http.GetAsync(new Uri(_fake.BaseUrl, "apps/selftune-test/installations/new?state=s%2Bt"));
        Assert.Equal(HttpStatusCode.Found, resp.StatusCode);
        var location = resp.Headers.Location!;
        Assert.Equal("http://localhost:5123/settings/github/callback", location.GetLeftPart(UriPartial.Path));
        var query = System.Web.HttpUtility.ParseQueryString(location.Query);
        Assert.Equal(_inst.Id.ToString(), query["installation_id"]);
        Assert.Equal("install", query["setup_action"]);
        Assert.Equal("s+t", query["state"]);

        // The installer administers the organization they installed on, so GitHub lists the installation for them.
        var token = await WebClient().Oauth.CreateAccessToken(new OauthTokenRequest(_fake.ClientId, _fake.ClientSecret, query["code"]!));
        var listed = await Client(new Credentials(token.AccessToken, AuthenticationType.Bearer)).GitHubApps.GetAllInstallationsForCurrentUser();
        Assert.Equal([_inst.Id], listed.Installations.Select(i => i.Id));
    }

    [Fact]
    public async Task Installation_times_are_served_and_the_browser_install_and_touch_bump_updated_at()
    {
        var app = AppClient();
        async Task<InstallationTimes> TimesAsync(FakeInstallation i) =>
            (await app.Connection.Get<InstallationTimes>(new Uri($"app/installations/{i.Id}", UriKind.Relative), null)).Body;

        var created = DateTimeOffset.UtcNow.AddDays(-3).Truncate();
        var old = _fake.AddInstallation("old-org", createdAt: created);
        var times = await TimesAsync(old);
        Assert.Equal(created, times.CreatedAt);
        Assert.Equal(created, times.UpdatedAt);
        Assert.Equal(old.CreatedAt, times.CreatedAt);
        Assert.True(_inst.CreatedAt < DateTimeOffset.UtcNow.AddHours(-1), "AddInstallation defaults to an installation that already exists");

        var before = DateTimeOffset.UtcNow.Truncate();
        _fake.SetupUrl = new Uri("http://localhost:5123/settings/github");
        _fake.NextInstallForBrowser = old;
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });
        using var resp = await http.GetAsync(new Uri(_fake.BaseUrl, "apps/selftune-test/installations/new?state=x"));
        Assert.Equal(HttpStatusCode.Found, resp.StatusCode);
        times = await TimesAsync(old);
        Assert.Equal(created, times.CreatedAt);
        Assert.True(times.UpdatedAt >= before, $"updated_at {times.UpdatedAt:O} is before the browser install {before:O}");
        Assert.Equal(old.UpdatedAt, times.UpdatedAt);

        var untouched = await TimesAsync(_inst);
        Assert.True(untouched.UpdatedAt < before);
        _fake.TouchInstallation(_inst);
        Assert.True((await TimesAsync(_inst)).UpdatedAt >= before);
    }

    [Fact]
    public async Task Unknown_routes_answer_github_404_and_are_logged()
    {
        using var http = new HttpClient();
        using var resp = await http.GetAsync(new Uri(_fake.ApiUrl, "no/such/route"));
        Assert.Equal(HttpStatusCode.NotFound, resp.StatusCode);
        using var body = JsonDocument.Parse(await resp.Content.ReadAsStringAsync());
        Assert.Equal("Not Found", body.RootElement.GetProperty("message").GetString());
        Assert.Equal("https://docs.github.com/rest", body.RootElement.GetProperty("documentation_url").GetString());
        var logged = Assert.Single(_fake.UnknownRouteRequests);
        Assert.Equal("/api/v3/no/such/route", logged.Path);
    }

    [Fact]
    public void Webhook_request_is_signed_like_github()
    {
        const string payload = """{"zen":"Keep it logically awesome.","hook_id":1}""";
        using var req = _fake.CreateWebhookRequest(new Uri("http://localhost/api/v1/github/webhook"), "ping", payload, "d-1");
        Assert.Equal("ping", req.Headers.GetValues("X-GitHub-Event").Single());
        Assert.Equal("d-1", req.Headers.GetValues("X-GitHub-Delivery").Single());
        Assert.Equal("GitHub-Hookshot/fake", req.Headers.UserAgent.ToString());
        Assert.Equal("application/json", req.Content!.Headers.ContentType!.MediaType);
        var expected = "sha256=" + Convert.ToHexStringLower(
            HMACSHA256.HashData(Encoding.UTF8.GetBytes(_fake.WebhookSecret), Encoding.UTF8.GetBytes(payload)));
        Assert.Equal(expected, req.Headers.GetValues("X-Hub-Signature-256").Single());
        Assert.Equal(expected, _fake.SignWebhook(Encoding.UTF8.GetBytes(payload)));
        using var anon = _fake.CreateWebhookRequest(new Uri("http://localhost/x"), "push", "{}");
        Assert.True(Guid.TryParse(anon.Headers.GetValues("X-GitHub-Delivery").Single(), out _));
    }

    private sealed class WebhookParser : WH.WebhookEventProcessor;

    /// <summary>Parses a payload the way the product's Octokit.Webhooks receiver does.</summary>
    private async Task<WH.WebhookEvent> Parse(string eventName, string payload)
    {
        using var req = _fake.CreateWebhookRequest(new Uri("http://localhost/api/v1/github/webhook"), eventName, payload);
        var headers = req.Headers.Concat(req.Content!.Headers)
            .ToDictionary(h => h.Key, h => new StringValues(h.Value.ToArray()), StringComparer.OrdinalIgnoreCase);
        return new WebhookParser().DeserializeWebhookEvent(WH.WebhookHeaders.Parse(headers), await req.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Webhook_payloads_parse_with_octokit_webhooks()
    {
        var (repo, first) = RepoWithSkill();
        var second = _fake.PushChanges(repo, "main", new Dictionary<string, byte[]?> { ["skills/foo/extra.md"] = [1], ["README.md"] = null }, "second");
        _fake.PushTag(repo, "v1.0.0", second);
        var p = _fake.Payloads;

        var push = Assert.IsType<WH.Events.PushEvent>(await Parse("push", p.Push(repo, "main")));
        Assert.Equal("refs/heads/main", push.Ref);
        Assert.Equal(first, push.Before);
        Assert.Equal(second, push.After);
        var pushed = Assert.Single(push.Commits);
        Assert.Equal(["skills/foo/extra.md"], pushed.Added);
        Assert.Equal(["README.md"], pushed.Removed);
        Assert.Equal(repo.Id, push.Repository!.Id);
        Assert.Equal(_inst.Id, push.Installation!.Id);

        var tagPush = Assert.IsType<WH.Events.PushEvent>(await Parse("push", p.Push(repo, "refs/tags/v1.0.0")));
        Assert.True(tagPush.Created);
        Assert.Equal(second, tagPush.HeadCommit!.Id);
        var create = Assert.IsType<WH.Events.CreateEvent>(await Parse("create", p.Create(repo, "v1.0.0")));
        Assert.Equal("v1.0.0", create.Ref);

        var installed = Assert.IsType<WH.Events.Installation.InstallationCreatedEvent>(await Parse("installation", p.Installation("created", _inst)));
        Assert.Equal("acme-org", installed.Installation.Account.Login);
        Assert.Single(installed.Repositories!);
        Assert.IsType<WH.Events.Installation.InstallationDeletedEvent>(await Parse("installation", p.Installation("deleted", _inst)));
        Assert.IsType<WH.Events.Installation.InstallationSuspendEvent>(await Parse("installation", p.Installation("suspend", _inst)));
        Assert.IsType<WH.Events.Installation.InstallationNewPermissionsAcceptedEvent>(await Parse("installation", p.Installation("new_permissions_accepted", _inst)));
        var removed = Assert.IsType<WH.Events.InstallationRepositories.InstallationRepositoriesRemovedEvent>(
            await Parse("installation_repositories", p.InstallationRepositories("removed", _inst, removed: [repo])));
        Assert.Equal(repo.Id, removed.RepositoriesRemoved.Single().Id);

        _fake.RenameRepo(repo, "skills2");
        var renamed = Assert.IsType<WH.Events.Repository.RepositoryRenamedEvent>(await Parse("repository", p.RepositoryRenamed(repo, "skills")));
        Assert.Equal("acme-org/skills2", renamed.Repository!.FullName);
        _fake.TransferRepo(repo, "new-org");
        Assert.IsType<WH.Events.Repository.RepositoryTransferredEvent>(await Parse("repository", p.RepositoryTransferred(repo, "acme-org")));
        repo.DefaultBranch = "trunk";
        Assert.IsType<WH.Events.Repository.RepositoryEditedEvent>(await Parse("repository", p.RepositoryDefaultBranchChanged(repo, "main")));

        repo.DefaultBranch = "main";
        var head = _fake.PushCommit(repo, "feature/x", Files(("skills/foo/SKILL.md", "changed")));
        var opened = Assert.IsType<WH.Events.PullRequest.PullRequestOpenedEvent>(await Parse("pull_request", p.PullRequest("opened", repo, 7, "feature/x")));
        Assert.Equal(head, opened.PullRequest.Head.Sha);
        Assert.Equal(7, opened.Number);
        Assert.IsType<WH.Events.PullRequest.PullRequestSynchronizeEvent>(await Parse("pull_request", p.PullRequest("synchronize", repo, 7, "feature/x")));
        Assert.IsType<WH.Events.PingEvent>(await Parse("ping", p.Ping(new Uri("http://localhost/api/v1/github/webhook"))));
    }
}
