using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;

namespace SelfTune.Admin.Apis;

/// <summary>
/// The seed's GitHub Integration API (<c>/api/v1/github</c>): every endpoint needs a key with <c>registry:push</c> (403)
/// of an org on pro or higher (402). Endpoints that call GitHub answer 503 while the App is not configured. Changes go to
/// the services with the caller's <see cref="Actor"/>; the services check the role.
/// </summary>
public static class GitHubApi
{
    public static IEndpointRouteBuilder MapGitHubApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/github").WithTags("GitHub")
            .RequireApiKey(SelfTuneClaims.RegistryPush).RequirePlan(Plan.Pro);

        api.MapGet("settings", GetSettings).WithSummary("Read the org's write-back policy.");
        api.MapPost("settings", UpdateSettings).WithSummary("Set the org's write-back policy (off, checks, checks_and_prs).");
        api.MapGet("installations", ListInstallations).WithSummary("Installations bound to the org.");
        api.MapPost("installations", BindInstallation).RequireGitHubApp().WithSummary("Bind an installation (needs the state from GitHub's redirect).");
        api.MapGet("install-url", InstallUrl).RequireGitHubApp().WithSummary("A GitHub install link with a fresh signed state (valid 1 h, single use).");
        api.MapGet("repos", ListRepos).RequireGitHubApp().WithSummary("Repositories an installation reaches, with connected_elsewhere.");
        api.MapGet("connections", ListConnections).WithSummary("The org's connections, oldest first; paged with ?limit= and ?cursor=.");
        api.MapPost("connections", CreateConnection).RequireGitHubApp().WithSummary("Connect a repository to a registry entry.");
        api.MapGet("connections/{id}", GetConnection).WithSummary("One connection.");
        api.MapPatch("connections/{id}", UpdateConnection).WithSummary("Change write_back_enabled, auto_publish, tag_pattern, default_branch or skill_path.");
        api.MapDelete("connections/{id}", DeleteConnection).WithSummary("Remove a connection; published versions stay.");
        api.MapPost("connections/{id}/sync", SyncConnection).RequireGitHubApp().WithSummary("Re-read the repository and publish what is missing.");
        api.MapPost("connections/{id}/preview", PreviewConnection).RequireGitHubApp()
            .WithSummary("Dry run: the version, files, size, content hash and problems a publish of a ref would have; publishes nothing.");
        api.MapPost("connections/{id}/reconcile", ReconcileConnection).RequireGitHubApp()
            .WithSummary("Reconcile one connection now: publish every missed head and tag, and report drift (a moved release tag, a repository SelfTune can no longer read).");
        api.MapPost("reconcile", Reconcile).RequireGitHubApp().WithSummary("Run the reconciliation sweep now for the org's active connections.");
        api.MapGet("connections/{id}/attempts", ListAttempts).WithSummary("A connection's attempts, newest first; paged with ?limit= and ?cursor=.");
        return app;
    }

    static RouteHandlerBuilder RequireGitHubApp(this RouteHandlerBuilder builder) =>
        builder.AddEndpointFilter(async (context, next) =>
        {
            var credentials = context.HttpContext.RequestServices.GetRequiredService<IGitHubAppCredentialSource>();
            if (await credentials.GetAsync(context.HttpContext.RequestAborted) is null)
            {
                var missing = context.HttpContext.RequestServices.GetRequiredService<IOptions<GitHubOptions>>().Value.MissingSettings();
                throw GitHubFailures.NotConfigured(missing);
            }
            return await next(context);
        });

    static async Task<Ok<GitHubSettingsDto>> GetSettings(ClaimsPrincipal user, [AsParameters] GitHubApiServices services, CancellationToken ct) =>
        TypedResults.Ok(new GitHubSettingsDto(await services.Setup.GetWriteBackModeAsync(user.GetOrgId(), ct)));

    static async Task<Ok<GitHubSettingsDto>> UpdateSettings(UpdateGitHubSettingsRequest? request, ClaimsPrincipal user,
        [AsParameters] GitHubApiServices services, CancellationToken ct)
    {
        var mode = request?.WriteBackMode switch
        {
            "off" => WriteBackMode.Off,
            "checks" => WriteBackMode.Checks,
            "checks_and_prs" => WriteBackMode.ChecksAndPrs,
            _ => throw ProblemException.Invalid("write_back_mode", "write_back_mode must be one of: off, checks, checks_and_prs."),
        };
        await services.Setup.SetWriteBackModeAsync(Actor.From(user), mode, ct);
        return TypedResults.Ok(new GitHubSettingsDto(mode));
    }

    static async Task<Ok<InstallationList>> ListInstallations(ClaimsPrincipal user, [AsParameters] GitHubApiServices services, CancellationToken ct) =>
        TypedResults.Ok(new InstallationList((await services.Setup.ListInstallationsAsync(user.GetOrgId(), ct)).Select(InstallationResponse.From).ToList()));

    static async Task<Results<Created<InstallationResponse>, Ok<InstallationResponse>>> BindInstallation(BindInstallationRequest? request,
        ClaimsPrincipal user, [AsParameters] GitHubApiServices services, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>();
        if (request?.InstallationId is not > 0) errors["installation_id"] = ["installation_id is required: the positive integer from GitHub's redirect."];
        if (string.IsNullOrWhiteSpace(request?.AccountLogin) || request.AccountLogin.Length > 100) errors["account_login"] = ["account_login is required (at most 100 characters)."];
        if (request?.AccountType is not ("User" or "Organization")) errors["account_type"] = ["account_type must be \"User\" or \"Organization\"."];
        if (request?.State is { Length: > 4096 }) errors["state"] = ["state is too long."];
        if (errors.Count > 0) throw new ProblemException(400, "invalid_request", errors.Values.First()[0], errors);

        var result = await services.Binder.BindInstallationAsync(Actor.From(user), request!.InstallationId!.Value, request.AccountLogin, request.AccountType, request.State, ct);
        var body = InstallationResponse.From(result.Installation);
        if (result.Created) return TypedResults.Created($"/api/v1/github/installations/{body.Id}", body);
        return TypedResults.Ok(body);
    }

    static async Task<Ok<InstallUrlResponse>> InstallUrl(ClaimsPrincipal user, [AsParameters] GitHubApiServices services, CancellationToken ct)
    {
        var app = await services.Credentials.GetAsync(ct);
        var state = await services.Binder.IssueStateAsync(Actor.From(user), ct);
        var url = services.Links.InstallApp(app!.AppSlug, state);
        return TypedResults.Ok(new InstallUrlResponse(url, state, (int)InstallationBinder.StateLifetime.TotalSeconds));
    }

    static async Task<Ok<RepoList>> ListRepos(string? installation_id, ClaimsPrincipal user, [AsParameters] GitHubApiServices services, CancellationToken ct)
    {
        if (!long.TryParse(installation_id, out var id) || id <= 0)
            throw ProblemException.Invalid("installation_id", "The installation_id query parameter is required: an installation bound to this org.");
        return TypedResults.Ok(new RepoList(await services.Connections.ListReposAsync(user.GetOrgId(), id, ct)));
    }

    static async Task<Ok<ConnectionList>> ListConnections(ClaimsPrincipal user, string? limit, string? cursor, [AsParameters] GitHubApiServices services, CancellationToken ct)
    {
        var page = await services.Connections.ListAsync(user.GetOrgId(), PageRequest.Parse(limit, cursor, ConnectionService.ConnectionsList), ct);
        return TypedResults.Ok(new ConnectionList(page.Items, page.NextCursor));
    }

    static async Task<Ok<ConnectionResponse>> GetConnection(string id, ClaimsPrincipal user, [AsParameters] GitHubApiServices services, CancellationToken ct)
    {
        var (connection, entryName, last) = await services.Connections.GetAsync(user.GetOrgId(), id, ct);
        return TypedResults.Ok(ConnectionResponse.From(connection, entryName, last));
    }

    static async Task<Created<ConnectionResponse>> CreateConnection(CreateConnectionRequest? request, ClaimsPrincipal user,
        [AsParameters] GitHubApiServices services, CancellationToken ct)
    {
        if (request is null) throw new ProblemException(400, "invalid_request", "The request body must be a JSON object.");
        var created = await services.Connections.CreateAsync(Actor.From(user), request, ct);
        var entryName = await services.Db.Entries.Where(e => e.Id == created.EntryId).Select(e => e.Name).SingleAsync(ct);
        return TypedResults.Created($"/api/v1/github/connections/{created.Id}", ConnectionResponse.From(created, entryName, null));
    }

    static async Task<Ok<ConnectionResponse>> UpdateConnection(string id, UpdateConnectionRequest? request, ClaimsPrincipal user,
        [AsParameters] GitHubApiServices services, CancellationToken ct)
    {
        if (request is null) throw new ProblemException(400, "invalid_request", "The request body must be a JSON object.");
        var (connection, entryName, last) = await services.Connections.GetAsync(user.GetOrgId(), id, ct);
        await services.Connections.UpdateAsync(Actor.From(user), connection, request, ct);
        return TypedResults.Ok(ConnectionResponse.From(connection, entryName, last));
    }

    static async Task<Ok<ConnectionDeleted>> DeleteConnection(string id, ClaimsPrincipal user, [AsParameters] GitHubApiServices services, CancellationToken ct)
    {
        var (connection, _, _) = await services.Connections.GetAsync(user.GetOrgId(), id, ct);
        await services.Connections.DeleteAsync(Actor.From(user), connection, ct);
        return TypedResults.Ok(new ConnectionDeleted(true));
    }

    static async Task<Ok<SyncResponse>> SyncConnection(string id, ClaimsPrincipal user, [AsParameters] GitHubApiServices services, CancellationToken ct)
    {
        if (!Guid.TryParse(id, out var connectionId)) throw ProblemException.NotFound($"No connection with id '{id}'.");
        return TypedResults.Ok(SyncResponse.From(await services.Sync.RunAsync(Actor.From(user), connectionId, ct: ct)));
    }

    static async Task<Ok<ReconcileResult>> ReconcileConnection(string id, ClaimsPrincipal user, [AsParameters] GitHubApiServices services, CancellationToken ct)
    {
        if (!Guid.TryParse(id, out var connectionId)) throw ProblemException.NotFound($"No connection with id '{id}'.");
        return TypedResults.Ok(await services.Sync.ReconcileAsync(Actor.From(user), connectionId, ct: ct));
    }

    static async Task<Ok<PreviewResponse>> PreviewConnection(string id, PreviewRequest? request, ClaimsPrincipal user,
        [AsParameters] GitHubApiServices services, CancellationToken ct) =>
        TypedResults.Ok(await services.Preview.PreviewAsync(Actor.From(user), id, request?.Ref, ct));

    static async Task<Accepted<ReconcileQueued>> Reconcile(ClaimsPrincipal user, [AsParameters] GitHubApiServices services, TimeProvider clock, CancellationToken ct) =>
        TypedResults.Accepted((string?)null, new ReconcileQueued(await ReconciliationSweep.EnqueueAsync(services.Db, services.Queue, Actor.From(user), clock.GetUtcNow(), ct)));

    // limit binds as a number so that a non-number keeps binding's plain-words 400; the range is PageRequest's.
    static async Task<Ok<AttemptList>> ListAttempts(string id, int? limit, string? cursor, ClaimsPrincipal user, [AsParameters] GitHubApiServices services, CancellationToken ct)
    {
        var request = PageRequest.Parse(limit?.ToString(CultureInfo.InvariantCulture), cursor, AttemptQueries.AttemptsList); // a bad page is a 400 before any lookup
        var (connection, _, _) = await services.Connections.GetAsync(user.GetOrgId(), id, ct);
        var page = await services.Attempts.OfConnectionAsync(connection.OrgId, connection.Id, request, ct);
        return TypedResults.Ok(new AttemptList(page.Items.Select(AttemptResponse.From).ToList(), page.NextCursor));
    }
}

/// <summary>The services the GitHub API's handlers use, bound with <c>[AsParameters]</c>.</summary>
public sealed record GitHubApiServices(
    GitHubSetupService Setup,
    GitHubLinks Links,
    InstallationBinder Binder,
    ConnectionService Connections,
    AttemptQueries Attempts,
    ManualSync Sync,
    PreviewService Preview,
    IGitHubAppCredentialSource Credentials,
    AdminDbContext Db,
    JobQueue Queue);
