using Microsoft.AspNetCore.DataProtection.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace SelfTune.Admin.Data;

/// <summary>
/// The admin database. Data-access rule: pages (<c>.razor</c>) never query it — they call a service or a read class
/// (<see cref="OverviewQueries"/>, <c>AttemptQueries</c>, <c>RegistryQueries</c>, <c>DeliveryService</c>...). Anything
/// a circuit uses takes <see cref="IDbContextFactory{TContext}"/> and makes a short-lived context per operation
/// (<c>await using var db = await dbFactory.CreateDbContextAsync(ct)</c>): a circuit lives for minutes and runs live
/// reloads concurrently with user actions, and a context is neither thread-safe nor meant to live that long. Only
/// code that runs inside one HTTP request or one job (endpoints, job handlers and the services only they use) may
/// take a scoped <see cref="AdminDbContext"/>.
/// </summary>
/// <remarks>
/// This type is the SQLite context (its migrations are in Data/Migrations/Sqlite); <see cref="PostgresAdminDbContext"/>
/// derives from it with PostgreSQL's column types and its own migrations, EF's "one context type per provider". Code
/// outside Data always takes AdminDbContext; <see cref="DatabaseSetup"/> registers the provider's one under that name.
/// </remarks>
public class AdminDbContext : DbContext, IDataProtectionKeyContext
{
    public AdminDbContext(DbContextOptions<AdminDbContext> options) : base(options) => SavingChanges += (_, _) => AuditLog.RefuseEdits(this);

    /// <summary>For a provider's derived context, which brings its own typed options (so its own model and migrations).</summary>
    protected AdminDbContext(DbContextOptions options) : base(options) => SavingChanges += (_, _) => AuditLog.RefuseEdits(this);

    public DbSet<Org> Orgs => Set<Org>();
    public DbSet<Member> Members => Set<Member>();
    public DbSet<Invitation> Invitations => Set<Invitation>();
    public DbSet<AuditEntry> AuditEntries => Set<AuditEntry>();
    public DbSet<ApiKey> ApiKeys => Set<ApiKey>();
    public DbSet<RegistryEntry> Entries => Set<RegistryEntry>();
    public DbSet<SkillVersion> Versions => Set<SkillVersion>();
    public DbSet<GitHubOrgSettings> GitHubSettings => Set<GitHubOrgSettings>();
    public DbSet<GitHubInstallation> Installations => Set<GitHubInstallation>();
    public DbSet<InstallState> InstallStates => Set<InstallState>();
    public DbSet<GitHubConnection> Connections => Set<GitHubConnection>();
    public DbSet<PublishAttempt> Attempts => Set<PublishAttempt>();
    public DbSet<WebhookDelivery> Deliveries => Set<WebhookDelivery>();
    public DbSet<DeliveryRecovery> DeliveryRecoveries => Set<DeliveryRecovery>();
    public DbSet<Job> Jobs => Set<Job>();
    public DbSet<StoredGitHubApp> StoredApps => Set<StoredGitHubApp>();
    /// <summary>Data Protection's key ring when it is kept in the database (several instances; see <see cref="DatabaseSetup"/>).</summary>
    public DbSet<DataProtectionKey> DataProtectionKeys => Set<DataProtectionKey>();

    protected override void ConfigureConventions(ModelConfigurationBuilder builder)
    {
        ConfigureTimes(builder);
        builder.Properties<Plan>().HaveConversion<string>();
        builder.Properties<MemberRole>().HaveConversion<string>();
        builder.Properties<Visibility>().HaveConversion<string>();
        builder.Properties<VersionSource>().HaveConversion<string>();
        builder.Properties<WriteBackMode>().HaveConversion<string>();
        builder.Properties<AttemptTrigger>().HaveConversion<string>();
        builder.Properties<AttemptStatus>().HaveConversion<string>();
        builder.Properties<WriteBackStatus>().HaveConversion<string>();
        builder.Properties<DeliveryOutcome>().HaveConversion<string>();
        builder.Properties<JobState>().HaveConversion<string>();
        builder.Properties<AuditActorKind>().HaveConversion<string>();
    }

    /// <summary>How DateTimeOffset columns are stored. SQLite cannot order or compare DateTimeOffset; UTC ticks sort correctly.</summary>
    protected virtual void ConfigureTimes(ModelConfigurationBuilder builder) =>
        builder.Properties<DateTimeOffset>().HaveConversion<DateTimeOffsetToBinaryConverter>();

    protected override void OnModelCreating(ModelBuilder b)
    {
        b.Entity<Org>().HasIndex(o => o.Slug).IsUnique();
        b.Entity<Member>().HasIndex(m => new { m.Subject, m.OrgId }).IsUnique();
        b.Entity<Invitation>().HasIndex(i => i.TokenHash).IsUnique();
        b.Entity<Invitation>().HasIndex(i => i.OrgId);
        b.Entity<AuditEntry>().HasIndex(a => new { a.OrgId, a.At });
        b.Entity<ApiKey>().HasIndex(k => k.Hash).IsUnique();
        b.Entity<ApiKey>().HasIndex(k => k.OrgId);
        b.Entity<RegistryEntry>().HasIndex(e => new { e.OrgId, e.Name }).IsUnique();
        b.Entity<RegistryEntry>().HasIndex(e => e.Visibility);
        b.Entity<SkillVersion>().HasIndex(v => new { v.EntryId, v.Version }).IsUnique();
        b.Entity<SkillVersion>().HasIndex(v => v.OrgId);
        b.Entity<SkillVersion>().HasOne(v => v.Entry).WithMany(e => e.Versions).HasForeignKey(v => v.EntryId);

        b.Entity<GitHubOrgSettings>().HasKey(s => s.OrgId);
        b.Entity<GitHubInstallation>().HasIndex(i => new { i.OrgId, i.InstallationId }).IsUnique();
        b.Entity<GitHubInstallation>().HasIndex(i => i.InstallationId);
        b.Entity<GitHubConnection>().HasIndex(c => new { c.OrgId, c.RepoId, c.SkillPath }).IsUnique();
        b.Entity<GitHubConnection>().HasIndex(c => c.RepoId);
        // The connections list and page: an org's connections oldest first, paged by (CreatedAt, Id), without a sort.
        b.Entity<GitHubConnection>().HasIndex(c => new { c.OrgId, c.CreatedAt, c.Id });
        // The overview's paused and out-of-step connections, counted and listed on every live update: only those rows
        // (partial indexes; the filter is the same SQL on SQLite and PostgreSQL), not a read of every connection of the org.
        b.Entity<GitHubConnection>().HasIndex(c => new { c.OrgId, c.CreatedAt, c.Id }, "IX_Connections_Paused").HasFilter("\"PausedReason\" IS NOT NULL");
        b.Entity<GitHubConnection>().HasIndex(c => new { c.OrgId, c.DriftDetectedAt, c.Id }, "IX_Connections_Drifted").HasFilter("\"Drift\" IS NOT NULL");
        b.Entity<GitHubConnection>().Ignore(c => c.RepoFullName);
        b.Entity<GitHubConnection>().HasOne(c => c.Entry).WithMany().HasForeignKey(c => c.EntryId);
        b.Entity<PublishAttempt>().HasIndex(a => new { a.ConnectionId, a.CreatedAt });
        b.Entity<PublishAttempt>().HasIndex(a => new { a.OrgId, a.CreatedAt });
        b.Entity<WebhookDelivery>().HasIndex(d => d.DeliveryId).IsUnique();
        b.Entity<WebhookDelivery>().HasIndex(d => d.ReceivedAt);
        // The Deliveries page of one org: its installations' and repositories' deliveries, newest first.
        b.Entity<WebhookDelivery>().HasIndex(d => new { d.InstallationId, d.ReceivedAt });
        b.Entity<WebhookDelivery>().HasIndex(d => new { d.RepositoryId, d.ReceivedAt });
        // The Deliveries page's counts (a count per event name, the total, a filter's total by event or outcome) read
        // every delivery the org sees: this index holds every column they test, so they scan it instead of the table,
        // whose rows carry the webhook bodies (6-9 KB a push, kept 30 days): 50,000 push deliveries are 3-4 MB here against
        // 400 MB of table on SQLite. Event first groups by it in index order; ReceivedAt next puts a new delivery at the end
        // of its event's entries (one page written per batch, not one per row), and serves an event filter's newest-first page.
        b.Entity<WebhookDelivery>().HasIndex(d => new { d.Event, d.ReceivedAt, d.Outcome, d.InstallationId, d.RepositoryId, d.ReplayedByOrgId },
            "IX_Deliveries_Counts");
        b.Entity<DeliveryRecovery>().HasKey(r => r.DeliveryId);
        b.Entity<DeliveryRecovery>().HasIndex(r => r.RequestedAt);
        b.Entity<Job>().HasIndex(j => new { j.State, j.NotBefore });
        // The claim walks one state's jobs in Id order and stops at the first it may take (JobQueue.ClaimSql), and asks
        // whether a key has an unfinished job without reading the key's finished history.
        b.Entity<Job>().HasIndex(j => new { j.State, j.Id });
        b.Entity<Job>().HasIndex(j => new { j.ConcurrencyKey, j.State });
        b.Entity<StoredGitHubApp>().Property(a => a.Id).ValueGeneratedNever();
    }
}
