using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace SelfTune.Admin.Data;

/// <summary>
/// <see cref="AdminDbContext"/> on PostgreSQL (<c>Database:Provider=Postgres</c>): the same model, with its own migrations
/// in Data/Migrations/Postgres. Only what PostgreSQL needs to behave as SQLite does differs; see the overrides.
/// </summary>
public sealed class PostgresAdminDbContext(DbContextOptions<PostgresAdminDbContext> options) : AdminDbContext(options)
{
    /// <summary>
    /// Native <c>timestamptz</c>, which orders and compares. Npgsql writes only offset-zero values to it, so every value is
    /// turned to UTC first (SQLite keeps the offset; DateTimeOffset equality and ordering ignore it, so nothing reads it).
    /// </summary>
    protected override void ConfigureTimes(ModelConfigurationBuilder builder) =>
        builder.Properties<DateTimeOffset>().HaveConversion<UtcConverter>();

    sealed class UtcConverter() : ValueConverter<DateTimeOffset, DateTimeOffset>(v => v.ToUniversalTime(), v => v);

    protected override void OnModelCreating(ModelBuilder b)
    {
        base.OnModelCreating(b);
        // The deliveries search uses LIKE, which SQLite runs case-insensitively (ASCII) and PostgreSQL does not: citext makes
        // PostgreSQL's LIKE on these columns ignore case too. GitHub's delivery ids (GUIDs) and owner/name are themselves
        // case-insensitive, so the unique index on DeliveryId loses nothing. Every other text compares exactly, as on SQLite.
        b.HasPostgresExtension("citext");
        b.Entity<WebhookDelivery>().Property(d => d.DeliveryId).HasColumnType("citext");
        b.Entity<WebhookDelivery>().Property(d => d.RepositoryFullName).HasColumnType("citext");
    }
}
