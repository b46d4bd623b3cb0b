namespace SelfTune.Admin.Data;

// Entities of the tenant model. Every tenant-owned row carries OrgId and every query filters by it.

public enum Plan { Free, Pro, Team, Enterprise }

public enum MemberRole { Viewer, Member, Admin, Owner }

public enum Visibility { Public, Org, Unlisted }

public enum VersionSource
{
    Cli,
    Github,
    [System.Text.Json.Serialization.JsonStringEnumMemberName("github-direct")] GithubDirect,
}

public sealed class Org
{
    public Guid Id { get; set; } = Guid.NewGuid();
    public required string Slug { get; set; }
    public required string Name { get; set; }
    public Plan Plan { get; set; } = Plan.Free;
    public DateTimeOffset CreatedAt { get; set; }
    /// <summary>Set by an operator: a suspended org's members and keys can read but change nothing, and its deliveries are ignored.</summary>
    public DateTimeOffset? SuspendedAt { get; set; }
    public string? SuspendedReason { get; set; }
}

public sealed class Member
{
    public Guid Id { get; set; } = Guid.NewGuid();
    public Guid OrgId { get; set; }
    /// <summary>"{issuer}|{sub}": the OIDC subject is unique only per issuer.</summary>
    public required string Subject { get; set; }
    public required string Name { get; set; }
    public string? Email { get; set; }
    public MemberRole Role { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? LastSignInAt { get; set; }
    /// <summary>When the person last chose this org (sign-in or the org switcher); sign-in opens the org chosen last.</summary>
    public DateTimeOffset? LastSelectedAt { get; set; }
}

/// <summary>
/// An invitation to join an org by link. The link carries a random token; only its SHA-256 is stored. Single use
/// (<see cref="AcceptedAt"/>), expires, can be revoked; bound to a verified e-mail address when <see cref="Email"/> is set.
/// </summary>
public sealed class Invitation
{
    public Guid Id { get; set; } = Guid.NewGuid();
    public Guid OrgId { get; set; }
    /// <summary>Lower-case hex SHA-256 of the token in the link.</summary>
    public required string TokenHash { get; set; }
    public string? Email { get; set; }
    public MemberRole Role { get; set; }
    public Guid CreatedBy { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset ExpiresAt { get; set; }
    public DateTimeOffset? AcceptedAt { get; set; }
    /// <summary>The member the invitation created.</summary>
    public Guid? AcceptedBy { get; set; }
    public DateTimeOffset? RevokedAt { get; set; }
}

public sealed class ApiKey
{
    public Guid Id { get; set; } = Guid.NewGuid();
    public Guid OrgId { get; set; }
    public required string Name { get; set; }
    /// <summary>The first characters of the key, shown in lists so a person can tell keys apart.</summary>
    public required string Prefix { get; set; }
    /// <summary>Lower-case hex SHA-256 of the whole key; the key itself is never stored.</summary>
    public required string Hash { get; set; }
    /// <summary>Space-separated permissions, e.g. "registry:read registry:push".</summary>
    public required string Permissions { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public Guid? CreatedBy { get; set; }
    public DateTimeOffset? ExpiresAt { get; set; }
    public DateTimeOffset? LastUsedAt { get; set; }
    public DateTimeOffset? RevokedAt { get; set; }
}

public sealed class RegistryEntry
{
    public Guid Id { get; set; } = Guid.NewGuid();
    public Guid OrgId { get; set; }
    public required string Name { get; set; }
    public string Description { get; set; } = "";
    public Visibility Visibility { get; set; } = Visibility.Org;
    public string? SourceRepo { get; set; }
    /// <summary>The highest release by SemVer precedence, or the newest prerelease while there is no release.</summary>
    public string? LatestVersion { get; set; }
    public Guid CreatedBy { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
    /// <summary>Set when an owner or admin deprecates the entry; it stays readable and installable, with the message shown.</summary>
    public DateTimeOffset? DeprecatedAt { get; set; }
    public string? DeprecationMessage { get; set; }
    /// <summary>
    /// How many versions the entry has (yanked ones too), kept by each publish in its transaction, so that a page of
    /// entries shows counts without counting each entry's history (an active entry has thousands of versions).
    /// </summary>
    public int VersionCount { get; set; }
    public List<SkillVersion> Versions { get; set; } = [];
}

/// <summary>An immutable published version. Rows are only ever inserted.</summary>
public sealed class SkillVersion
{
    /// <summary>Time-ordered (<see cref="WebhookDelivery.Id"/> says why).</summary>
    public Guid Id { get; set; } = Guid.CreateVersion7();
    public Guid OrgId { get; set; }
    public Guid EntryId { get; set; }
    public RegistryEntry? Entry { get; set; }
    public required string Version { get; set; }
    public string? ChangeSummary { get; set; }
    public VersionSource Source { get; set; }
    public string? SourceRef { get; set; }
    public string? SourceRepo { get; set; }
    /// <summary>Lower-case hex SHA-256 of the stored archive; also its key in the archive store.</summary>
    public required string ContentHash { get; set; }
    public long Size { get; set; }
    public int FileCount { get; set; }
    /// <summary>JSON array of {path, size, sha256}.</summary>
    public required string FileManifest { get; set; }
    public required string SkillName { get; set; }
    public required string SkillDescription { get; set; }
    public required string SkillMarkdown { get; set; }
    public Guid CreatedBy { get; set; }
    public DateTimeOffset PublishedAt { get; set; }
    /// <summary>JSON array of the Agent Skills warnings found when it was packaged (unknown keys, a name that differs); null when none.</summary>
    public string? Warnings { get; set; }

    // Withdrawal is the one change a version allows: its bytes and manifest never change. A yanked version stays
    // downloadable by exact version (lockfiles keep working, as npm deprecate and Cargo yank do) and is never `latest`.
    public DateTimeOffset? YankedAt { get; set; }
    public string? YankedReason { get; set; }
    public Guid? YankedBy { get; set; }
}
