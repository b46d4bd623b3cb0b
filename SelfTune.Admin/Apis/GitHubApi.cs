using System.Security.Claims;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using SelfTune.Admin.Auth;
using SelfTune.Admin.Data;
using SelfTune.Admin.GitHub;
using SelfTune.Admin.GitHub.Client;
using SelfTune.Admin.GitHub.Publishing;
using SelfTune.Admin.Infrastructure;
using SelfTune.Admin.Jobs;

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
        api.MapPost("installations", BindInstallation).RequireGitHubApp().WithSummary("Bind an installation (needs the state from GitHub's redirect).")
            .Produces<InstallationResponse>(StatusCodes.Status201Created).Produces<InstallationResponse>();
        api.MapGet("install-url", InstallUrl).RequireGitHubApp().WithSummary("A GitHub install link with a fresh signed state (valid 1 h, single use).");
        api.MapGet("repos", ListRepos).RequireGitHubApp().WithSummary("Repositories an installation reaches, with connected_elsewhere.");
        api.MapGet("connections", ListConnections).WithSummary("The org's connections.");
        api.MapPost("connections", CreateConnection).RequireGitHubApp().WithSummary("Connect a repository to a registry entry.")
            .Produces<ConnectionResponse>(StatusCodes.Status201Created);
        api.MapGet("connections/{id}", GetConnection).WithSummary("One connection.");
        api.MapPatch("connections/{id}", UpdateConnection).WithSummary("Change write_back_enabled, auto_publish, tag_pattern, default_branch or skill_path.");
        api.MapDelete("connections/{id}", DeleteConnection).WithSummary("Remove a connection; published versions stay.");
        api.MapPost("connections/{id}/sync", SyncConnection).RequireGitHubApp().WithSummary("Re-read the repository and publish what is missing.")
            .Produces<SyncResponse>();
        api.MapPost("reconcile", async (ClaimsPrincipal user, AdminDbContext db, JobQueue queue, CancellationToken ct) =>
                TypedResults.Accepted((string?)null, new { queued = await ReconciliationSweep.EnqueueAsync(db, queue, user.GetOrgId(), ct) }))
            .RequireGitHubApp().WithSummary("Run the reconciliation sweep now for the org's active connections.");
        api.MapGet("connections/{id}/attempts", ListAttempts).WithSummary("Every attempt of a connection, newest first.");
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

    static async Task<IResult> GetSettings(ClaimsPrincipal user, GitHubSetupService setup, CancellationToken ct) =>
        TypedResults.Ok(new GitHubSettingsDto(await setup.GetWriteBackModeAsync(user.GetOrgId(), ct)));

    static async Task<IResult> UpdateSettings(UpdateGitHubSettingsRequest? request, ClaimsPrincipal user, GitHubSetupService setup, CancellationToken ct)
    {
        var mode = request?.WriteBackMode switch
        {
            "off" => WriteBackMode.Off,
            "checks" => WriteBackMode.Checks,
            "checks_and_prs" => WriteBackMode.ChecksAndPrs,
            _ => throw ProblemException.Invalid("write_back_mode", "write_back_mode must be one of: off, checks, checks_and_prs."),
        };
        await setup.SetWriteBackModeAsync(Actor.From(user), mode, ct);
        return TypedResults.Ok(new GitHubSettingsDto(mode));
    }

    static async Task<IResult> ListInstallations(ClaimsPrincipal user, GitHubSetupService setup, CancellationToken ct) =>
        TypedResults.Ok(new { installations = (await setup.ListInstallationsAsync(user.GetOrgId(), ct)).Select(InstallationResponse.From) });

    static async Task<IResult> BindInstallation(BindInstallationRequest? request, ClaimsPrincipal user, InstallationBinder binder, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>();
        if (request?.InstallationId is not > 0) errors["installation_id"] = ["installation_id is required: the positive integer from GitHub's redirect."];
        if (string.IsNullOrWhiteSpace(request?.AccountLogin) || request.AccountLogin.Length > 100) errors["account_login"] = ["account_login is required (at most 100 characters)."];
        if (request?.AccountType is not ("User" or "Organization")) errors["account_type"] = ["account_type must be \"User\" or \"Organization\"."];
        if (request?.State is { Length: > 4096 }) errors["state"] = ["state is too long."];
        if (errors.Count > 0) throw new ProblemException(400, "invalid_request", errors.Values.First()[0], errors);

        var result = await binder.BindInstallationAsync(Actor.From(user), request!.InstallationId!.Value, request.AccountLogin, request.AccountType, request.State, ct);
        var body = InstallationResponse.From(result.Installation);
        return result.Created ? TypedResults.Created($"/api/v1/github/installations/{body.Id}", body) : TypedResults.Ok(body);
    }

    static async Task<IResult> InstallUrl(ClaimsPrincipal user, InstallationBinder binder, IGitHubAppCredentialSource credentials, GitHubLinks links, CancellationToken ct)
    {
        var app = await credentials.GetAsync(ct);
        var state = await binder.IssueStateAsync(Actor.From(user), ct);
        var url = links.InstallApp(app!.AppSlug, state);
        return TypedResults.Ok(new { url, state, expires_in = (int)InstallationBinder.StateLifetime.TotalSeconds });
    }

    static async Task<IResult> ListRepos(string? installation_id, ClaimsPrincipal user, ConnectionService connections, CancellationToken ct)
    {
        if (!long.TryParse(installation_id, out var id) || id <= 0)
            throw ProblemException.Invalid("installation_id", "The installation_id query parameter is required: an installation bound to this org.");
        var repos = await connections.ListReposAsync(user.GetOrgId(), id, ct);
        return TypedResults.Ok(new { repos });
    }

    static async Task<IResult> ListConnections(ClaimsPrincipal user, ConnectionService connections, CancellationToken ct) =>
        TypedResults.Ok(new { connections = await connections.ListAsync(user.GetOrgId(), ct) });

    static async Task<IResult> GetConnection(string id, ClaimsPrincipal user, ConnectionService connections, CancellationToken ct)
    {
        var (connection, entryName, last) = await connections.GetAsync(user.GetOrgId(), id, ct);
        return TypedResults.Ok(ConnectionResponse.From(connection, entryName, last));
    }

    static async Task<IResult> CreateConnection(CreateConnectionRequest? request, ClaimsPrincipal user, ConnectionService connections, AdminDbContext db, CancellationToken ct)
    {
        if (request is null) throw new ProblemException(400, "invalid_request", "The request body must be a JSON object.");
        var created = await connections.CreateAsync(Actor.From(user), request, ct);
        var entryName = await db.Entries.Where(e => e.Id == created.EntryId).Select(e => e.Name).SingleAsync(ct);
        return TypedResults.Created($"/api/v1/github/connections/{created.Id}", ConnectionResponse.From(created, entryName, null));
    }

    static async Task<IResult> UpdateConnection(string id, UpdateConnectionRequest? request, ClaimsPrincipal user, ConnectionService connections, CancellationToken ct)
    {
        if (request is null) throw new ProblemException(400, "invalid_request", "The request body must be a JSON object.");
        var (connection, entryName, last) = await connections.GetAsync(user.GetOrgId(), id, ct);
        await connections.UpdateAsync(Actor.From(user), connection, request, ct);
        return TypedResults.Ok(ConnectionResponse.From(connection, entryName, last));
    }

    static async Task<IResult> DeleteConnection(string id, ClaimsPrincipal user, ConnectionService connections, CancellationToken ct)
    {
        var (connection, _, _) = await connections.GetAsync(user.GetOrgId(), id, ct);
        await connections.DeleteAsync(Actor.From(user), connection, ct);
        return TypedResults.Ok(new { deleted = true });
    }

    static async Task<IResult> SyncConnection(string id, ClaimsPrincipal user, ManualSync sync, CancellationToken ct)
    {
        if (!Guid.TryParse(id, out var connectionId)) throw ProblemException.NotFound($"No connection with id '{id}'.");
        return TypedResults.Ok(SyncResponse.From(await sync.RunAsync(Actor.From(user), connectionId, ct: ct)));
    }

    static async Task<IResult> ListAttempts(string id, int? limit, ClaimsPrincipal user, ConnectionService connections, AttemptQueries queries, CancellationToken ct)
    {
        var (connection, _, _) = await connections.GetAsync(user.GetOrgId(), id, ct);
        var take = Math.Clamp(limit ?? 100, 1, 1000);
        var attempts = await queries.OfConnectionAsync(connection.OrgId, connection.Id, take, ct);
        return TypedResults.Ok(new { attempts = attempts.Select(AttemptResponse.From) });
    }
}
