using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace SelfTune.Admin.Data;

public sealed class AdminDbContext(DbContextOptions<AdminDbContext> options) : DbContext(options)
{
    public DbSet<Org> Orgs => Set<Org>();
    public DbSet<Member> Members => Set<Member>();
    public DbSet<ApiKey> ApiKeys => Set<ApiKey>();
    public DbSet<RegistryEntry> Entries => Set<RegistryEntry>();
    public DbSet<SkillVersion> Versions => Set<SkillVersion>();

    protected override void ConfigureConventions(ModelConfigurationBuilder builder)
    {
        // SQLite cannot order or compare DateTimeOffset; UTC ticks sort correctly.
        builder.Properties<DateTimeOffset>().HaveConversion<DateTimeOffsetToBinaryConverter>();
        builder.Properties<Plan>().HaveConversion<string>();
        builder.Properties<MemberRole>().HaveConversion<string>();
        builder.Properties<Visibility>().HaveConversion<string>();
        builder.Properties<VersionSource>().HaveConversion<string>();
    }

    protected override void OnModelCreating(ModelBuilder b)
    {
        b.Entity<Org>().HasIndex(o => o.Slug).IsUnique();
        b.Entity<Member>().HasIndex(m => new { m.Subject, m.OrgId }).IsUnique();
        b.Entity<ApiKey>().HasIndex(k => k.Hash).IsUnique();
        b.Entity<ApiKey>().HasIndex(k => k.OrgId);
        b.Entity<RegistryEntry>().HasIndex(e => new { e.OrgId, e.Name }).IsUnique();
        b.Entity<RegistryEntry>().HasIndex(e => e.Visibility);
        b.Entity<SkillVersion>().HasIndex(v => new { v.EntryId, v.Version }).IsUnique();
        b.Entity<SkillVersion>().HasIndex(v => v.OrgId);
        b.Entity<SkillVersion>().HasOne(v => v.Entry).WithMany(e => e.Versions).HasForeignKey(v => v.EntryId);
    }
}
