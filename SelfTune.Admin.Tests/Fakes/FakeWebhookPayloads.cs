using System.Text.Json.Nodes;

namespace SelfTune.Admin.Tests.Fakes;

/// <summary>
/// GitHub App webhook payloads built from the fake's current state (ids, names, SHAs agree with the API).
/// Send them with <see cref="FakeGitHub.CreateWebhookRequest"/>. Event name to use is given per method.
/// </summary>
public sealed class FakeWebhookPayloads
{
    public const string ZeroSha = "0000000000000000000000000000000000000000";
    private readonly FakeGitHub _fake;

    internal FakeWebhookPayloads(FakeGitHub fake) => _fake = fake;

    private string Web => _fake.BaseUrl.AbsoluteUri;
    private string Api => _fake.ApiUrl.AbsoluteUri;

    /// <summary>The user who "did" things on GitHub.</summary>
    public string SenderLogin { get; set; } = "octo-dev";

    private JsonObject Sender() => _fake.UserJson(SenderLogin, 583231, "User");

    private FakeInstallation InstallationFor(FakeRepo repo) =>
        _fake.InstallationOf(repo) ?? throw new InvalidOperationException($"No installation reaches {repo.FullName}.");

    private static JsonObject InstallationLite(FakeInstallation inst) => new()
    {
        ["id"] = inst.Id,
        ["node_id"] = Convert.ToBase64String(System.Text.Encoding.ASCII.GetBytes($"MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9u{inst.Id}")),
    };

    private JsonObject OrganizationJson(string login)
    {
        var a = _fake.AccountJson(login);
        var u = Api + "orgs/" + Uri.EscapeDataString(login);
        return new JsonObject
        {
            ["login"] = login,
            ["id"] = a["id"]!.GetValue<long>(),
            ["node_id"] = a["node_id"]!.GetValue<string>(),
            ["url"] = u,
            ["repos_url"] = u + "/repos",
            ["events_url"] = u + "/events",
            ["hooks_url"] = u + "/hooks",
            ["issues_url"] = u + "/issues",
            ["members_url"] = u + "/members{/member}",
            ["public_members_url"] = u + "/public_members{/member}",
            ["avatar_url"] = a["avatar_url"]!.GetValue<string>(),
            ["description"] = null,
        };
    }

    /// <summary>repository + installation + organization (when owned by an org) + sender.</summary>
    private JsonObject Envelope(string? action, FakeRepo? repo, FakeInstallation inst, JsonObject? repositoryJson = null)
    {
        var o = new JsonObject();
        if (action is not null) o["action"] = action;
        return Complete(o, repo, inst, repositoryJson);
    }

    private JsonObject Complete(JsonObject o, FakeRepo? repo, FakeInstallation inst, JsonObject? repositoryJson = null)
    {
        if (repo is not null)
        {
            o["repository"] = repositoryJson ?? WebhookRepo(repo);
            if (o["repository"]!["owner"]!["type"]!.GetValue<string>() == "Organization") o["organization"] = OrganizationJson(repo.Owner);
        }
        else if (inst.AccountType == "Organization") o["organization"] = OrganizationJson(inst.AccountLogin);
        o["sender"] = Sender();
        o["installation"] = InstallationLite(inst);
        return o;
    }

    private JsonObject WebhookRepo(FakeRepo repo)
    {
        var r = _fake.RepoJson(repo);
        r.Remove("permissions");
        r["custom_properties"] = new JsonObject();
        return r;
    }

    /// <summary>Push payloads carry Unix-second timestamps, owner name/email and "stargazers"/"master_branch".</summary>
    private JsonObject PushRepo(FakeRepo repo)
    {
        var r = WebhookRepo(repo);
        r["created_at"] = repo.CreatedAt.ToUnixTimeSeconds();
        r["pushed_at"] = (repo.PushedAt ?? repo.CreatedAt).ToUnixTimeSeconds();
        var owner = r["owner"]!.AsObject();
        owner["name"] = repo.Owner;
        owner["email"] = null;
        r["stargazers"] = 0;
        r["master_branch"] = repo.DefaultBranch;
        if (owner["type"]!.GetValue<string>() == "Organization") r["organization"] = repo.Owner;
        return r;
    }

    private JsonObject PushCommit(FakeRepo repo, FakeCommit c, bool distinct = true)
    {
        var parent = c.ParentSha is null ? null : repo.GetCommit(c.ParentSha);
        var before = parent?.Files ?? new Dictionary<string, FakeFile>();
        JsonArray Paths(IEnumerable<string> p) => new(p.Select(x => (JsonNode?)JsonValue.Create(x)).ToArray());
        var person = new JsonObject { ["name"] = FakeCommit.AuthorName, ["email"] = FakeCommit.AuthorEmail, ["username"] = SenderLogin };
        return new JsonObject
        {
            ["id"] = c.Sha,
            ["tree_id"] = c.TreeSha,
            ["distinct"] = distinct,
            ["message"] = c.Message,
            ["timestamp"] = c.Date.ToString("yyyy-MM-dd'T'HH:mm:sszzz", System.Globalization.CultureInfo.InvariantCulture),
            ["url"] = $"{Web}{repo.FullName}/commit/{c.Sha}",
            ["author"] = person,
            ["committer"] = person.DeepClone(),
            ["added"] = Paths(c.Files.Keys.Where(k => !before.ContainsKey(k))),
            ["removed"] = Paths(before.Keys.Where(k => !c.Files.ContainsKey(k))),
            ["modified"] = Paths(c.Files.Where(f => before.TryGetValue(f.Key, out var b) && b.BlobSha != f.Value.BlobSha).Select(f => f.Key)),
        };
    }

    /// <summary>
    /// Event "push". <paramref name="refName"/>: "refs/heads/main", "refs/tags/v1.0.0", or a plain branch name.
    /// Defaults: after = the ref's current SHA, before = the parent (branch) or zeros (new tag).
    /// Use after = ZeroSha for a deletion.
    /// </summary>
    public string Push(FakeRepo repo, string refName, string? before = null, string? after = null)
    {
        if (!refName.StartsWith("refs/", StringComparison.Ordinal)) refName = "refs/heads/" + refName;
        var isTag = refName.StartsWith("refs/tags/", StringComparison.Ordinal);
        var shortName = refName[(isTag ? 10 : 11)..];
        var current = isTag ? repo.Tags.GetValueOrDefault(shortName) : repo.Branches.GetValueOrDefault(shortName);
        after ??= current ?? throw new ArgumentException($"{refName} does not exist in {repo.FullName}.");
        before ??= isTag ? ZeroSha : repo.GetCommit(after)?.ParentSha ?? ZeroSha;
        var deleted = after == ZeroSha;
        var created = before == ZeroSha;

        var commits = new JsonArray();
        if (!deleted && !isTag)
        {
            var chain = new List<FakeCommit>();
            for (var c = repo.GetCommit(after); c is not null && c.Sha != before; c = c.ParentSha is null ? null : repo.GetCommit(c.ParentSha))
                chain.Add(c);
            chain.Reverse();
            foreach (var c in chain.TakeLast(20)) commits.Add(PushCommit(repo, c));
        }
        var head = deleted ? null : repo.GetCommit(after);
        var o = new JsonObject
        {
            ["ref"] = refName,
            ["before"] = before,
            ["after"] = after,
            ["repository"] = PushRepo(repo),
            ["pusher"] = new JsonObject { ["name"] = SenderLogin, ["email"] = $"{SenderLogin}@users.noreply.example" },
            ["created"] = created,
            ["deleted"] = deleted,
            ["forced"] = false,
            ["base_ref"] = null,
            ["compare"] = created ? $"{Web}{repo.FullName}/compare/{Uri.EscapeDataString(shortName)}"
                : $"{Web}{repo.FullName}/compare/{before[..12]}...{after[..12]}",
            ["commits"] = commits,
            ["head_commit"] = head is null ? null : PushCommit(repo, head, distinct: !isTag),
        };
        return Complete(o, repo, InstallationFor(repo), o["repository"]!.AsObject()).ToJsonString();
    }

    /// <summary>Event "create" for a tag (refType "tag") or branch ("branch").</summary>
    public string Create(FakeRepo repo, string refName, string refType = "tag")
    {
        var o = new JsonObject
        {
            ["ref"] = refName,
            ["ref_type"] = refType,
            ["master_branch"] = repo.DefaultBranch,
            ["description"] = null,
            ["pusher_type"] = "user",
        };
        return Complete(o, repo, InstallationFor(repo)).ToJsonString();
    }

    private static JsonArray RepoRefs(IEnumerable<FakeRepo> repos) => new(repos.Select(r => (JsonNode?)new JsonObject
    {
        ["id"] = r.Id,
        ["node_id"] = Convert.ToBase64String(System.Text.Encoding.ASCII.GetBytes($"010:Repository{r.Id}")),
        ["name"] = r.Name,
        ["full_name"] = r.FullName,
        ["private"] = r.Private,
    }).ToArray());

    /// <summary>Event "installation": created, deleted, suspend, unsuspend, new_permissions_accepted.</summary>
    public string Installation(string action, FakeInstallation inst, IEnumerable<FakeRepo>? repositories = null)
    {
        var repos = repositories?.ToList() ?? _fake.ReposOf(inst).ToList();
        var o = new JsonObject { ["action"] = action };
        Complete(o, null, inst);
        o["installation"] = _fake.InstallationJson(inst);
        o["repositories"] = RepoRefs(repos);
        o["requester"] = null;
        return o.ToJsonString();
    }

    /// <summary>Event "installation_repositories": added / removed.</summary>
    public string InstallationRepositories(string action, FakeInstallation inst, IEnumerable<FakeRepo>? added = null, IEnumerable<FakeRepo>? removed = null)
    {
        var o = new JsonObject { ["action"] = action };
        Complete(o, null, inst);
        o["installation"] = _fake.InstallationJson(inst);
        o["repository_selection"] = inst.RepositorySelection;
        o["repositories_added"] = RepoRefs(added ?? []);
        o["repositories_removed"] = RepoRefs(removed ?? []);
        o["requester"] = null;
        return o.ToJsonString();
    }

    /// <summary>Event "repository", action renamed (call after <see cref="FakeGitHub.RenameRepo"/>).</summary>
    public string RepositoryRenamed(FakeRepo repo, string oldName)
    {
        var o = Envelope("renamed", repo, InstallationFor(repo));
        o["changes"] = new JsonObject { ["repository"] = new JsonObject { ["name"] = new JsonObject { ["from"] = oldName } } };
        return o.ToJsonString();
    }

    /// <summary>Event "repository", action transferred (call after <see cref="FakeGitHub.TransferRepo"/>).</summary>
    public string RepositoryTransferred(FakeRepo repo, string oldOwner, string oldOwnerType = "Organization")
    {
        var o = Envelope("transferred", repo, InstallationFor(repo));
        var from = _fake.AccountJson(oldOwner);
        o["changes"] = new JsonObject
        {
            ["owner"] = new JsonObject { ["from"] = new JsonObject { [oldOwnerType == "Organization" ? "organization" : "user"] = from } },
        };
        return o.ToJsonString();
    }

    /// <summary>Event "repository", action edited with a default-branch change (set repo.DefaultBranch first).</summary>
    public string RepositoryDefaultBranchChanged(FakeRepo repo, string oldDefaultBranch)
    {
        var o = Envelope("edited", repo, InstallationFor(repo));
        o["changes"] = new JsonObject { ["default_branch"] = new JsonObject { ["from"] = oldDefaultBranch } };
        return o.ToJsonString();
    }

    /// <summary>Event "pull_request": opened / synchronize / reopened, head branch in the same repository.</summary>
    public string PullRequest(string action, FakeRepo repo, int number, string headBranch, string? baseBranch = null, string? before = null)
    {
        baseBranch ??= repo.DefaultBranch;
        var headSha = repo.Branches.GetValueOrDefault(headBranch) ?? throw new ArgumentException($"No branch {headBranch}.");
        var baseSha = repo.Branches.GetValueOrDefault(baseBranch) ?? throw new ArgumentException($"No branch {baseBranch}.");
        var full = repo.FullName;
        var u = $"{Api}repos/{full}";
        var user = Sender();
        JsonObject Side(string branch, string sha) => new()
        {
            ["label"] = $"{repo.Owner}:{branch}",
            ["ref"] = branch,
            ["sha"] = sha,
            ["user"] = _fake.AccountJson(repo.Owner),
            ["repo"] = WebhookRepo(repo),
        };
        var link = (string href) => new JsonObject { ["href"] = href };
        var pr = new JsonObject
        {
            ["url"] = $"{u}/pulls/{number}",
            ["id"] = 900_000_000L + number,
            ["node_id"] = Convert.ToBase64String(System.Text.Encoding.ASCII.GetBytes($"PR_{repo.Id}_{number}")),
            ["html_url"] = $"{Web}{full}/pull/{number}",
            ["diff_url"] = $"{Web}{full}/pull/{number}.diff",
            ["patch_url"] = $"{Web}{full}/pull/{number}.patch",
            ["issue_url"] = $"{u}/issues/{number}",
            ["number"] = number,
            ["state"] = "open",
            ["locked"] = false,
            ["title"] = $"Update skill ({headBranch})",
            ["user"] = user,
            ["body"] = null,
            ["created_at"] = FakeGitHub.Ts(DateTimeOffset.UtcNow.AddMinutes(-5)),
            ["updated_at"] = FakeGitHub.Ts(DateTimeOffset.UtcNow),
            ["closed_at"] = null,
            ["merged_at"] = null,
            ["merge_commit_sha"] = null,
            ["assignee"] = null,
            ["assignees"] = new JsonArray(),
            ["requested_reviewers"] = new JsonArray(),
            ["requested_teams"] = new JsonArray(),
            ["labels"] = new JsonArray(),
            ["milestone"] = null,
            ["draft"] = false,
            ["commits_url"] = $"{u}/pulls/{number}/commits",
            ["review_comments_url"] = $"{u}/pulls/{number}/comments",
            ["review_comment_url"] = $"{u}/pulls/comments{{/number}}",
            ["comments_url"] = $"{u}/issues/{number}/comments",
            ["statuses_url"] = $"{u}/statuses/{headSha}",
            ["head"] = Side(headBranch, headSha),
            ["base"] = Side(baseBranch, baseSha),
            ["_links"] = new JsonObject
            {
                ["self"] = link($"{u}/pulls/{number}"),
                ["html"] = link($"{Web}{full}/pull/{number}"),
                ["issue"] = link($"{u}/issues/{number}"),
                ["comments"] = link($"{u}/issues/{number}/comments"),
                ["review_comments"] = link($"{u}/pulls/{number}/comments"),
                ["review_comment"] = link($"{u}/pulls/comments{{/number}}"),
                ["commits"] = link($"{u}/pulls/{number}/commits"),
                ["statuses"] = link($"{u}/statuses/{headSha}"),
            },
            ["author_association"] = "MEMBER",
            ["auto_merge"] = null,
            ["active_lock_reason"] = null,
            ["merged"] = false,
            ["mergeable"] = null,
            ["rebaseable"] = null,
            ["mergeable_state"] = "unknown",
            ["merged_by"] = null,
            ["comments"] = 0,
            ["review_comments"] = 0,
            ["maintainer_can_modify"] = false,
            ["commits"] = 1,
            ["additions"] = 1,
            ["deletions"] = 0,
            ["changed_files"] = 1,
        };
        var o = new JsonObject { ["action"] = action, ["number"] = number, ["pull_request"] = pr };
        if (action == "synchronize")
        {
            o["before"] = before ?? repo.GetCommit(headSha)?.ParentSha ?? ZeroSha;
            o["after"] = headSha;
        }
        return Complete(o, repo, InstallationFor(repo)).ToJsonString();
    }

    /// <summary>Event "ping" as sent to a GitHub App's webhook.</summary>
    public string Ping(Uri webhookUrl)
    {
        var now = FakeGitHub.Ts(DateTimeOffset.UtcNow);
        return new JsonObject
        {
            ["zen"] = "Design for failure.",
            ["hook_id"] = 123456789,
            ["hook"] = new JsonObject
            {
                ["type"] = "App",
                ["id"] = 123456789,
                ["name"] = "web",
                ["active"] = true,
                ["events"] = new JsonArray("create", "pull_request", "push", "repository"),
                ["config"] = new JsonObject { ["content_type"] = "json", ["insecure_ssl"] = "0", ["url"] = webhookUrl.AbsoluteUri },
                ["updated_at"] = now,
                ["created_at"] = now,
                ["app_id"] = _fake.AppId,
                ["url"] = $"{Api}app/hook/config",
                ["ping_url"] = $"{Api}app/hook/pings",
                ["deliveries_url"] = $"{Api}app/hook/deliveries",
            },
        }.ToJsonString();
    }
}
