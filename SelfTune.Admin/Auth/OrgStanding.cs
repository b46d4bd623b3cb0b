namespace SelfTune.Admin.Auth;

/// <summary>
/// What an operator decides about an org: its plan and whether it is suspended. Read from the database (one row), not
/// from the sign-in cookie, wherever the answer must follow an operator's change at once: the cookie's copy is only
/// refreshed every few minutes (see AuthenticationSetup), an API key's on every request.
/// </summary>
public sealed record OrgStanding(Plan Plan, DateTimeOffset? SuspendedAt, string? SuspendedReason)
{
    public bool IsSuspended => SuspendedAt is not null;

    /// <summary>Why a suspended org's change was refused: the reason, and who can lift it (the refusal's one wording).</summary>
    public static string SuspendedMessage(string? reason) =>
        "This org is suspended" + (string.IsNullOrWhiteSpace(reason) ? "" : $": {reason.Trim().TrimEnd('.')}") +
        ". Its members and API keys can read but not change anything until an operator of this SelfTune deployment lifts the suspension.";

    /// <summary>The 403 <c>org_suspended</c> a suspended org's change gets.</summary>
    public static ProblemException Refusal(string? reason) => new(403, "org_suspended", SuspendedMessage(reason));
}

/// <summary>
/// Reads an org's current <see cref="OrgStanding"/> for pages (which never query the database themselves). Each call uses
/// its own DbContext, so a page (whose circuit outlives requests) can hold this service.
/// </summary>
public sealed class OrgStandings(IDbContextFactory<AdminDbContext> dbFactory)
{
    /// <summary>The org's standing; an org that no longer exists (deleted while a page was open) has the least: free, not suspended.</summary>
    public async Task<OrgStanding> OfAsync(Guid orgId, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        return await db.Orgs.AsNoTracking().Where(o => o.Id == orgId)
            .Select(o => new OrgStanding(o.Plan, o.SuspendedAt, o.SuspendedReason))
            .SingleOrDefaultAsync(ct) ?? new OrgStanding(Plan.Free, null, null);
    }
}
