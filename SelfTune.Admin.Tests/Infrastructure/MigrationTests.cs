using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using static SelfTune.Admin.Tests.Registry.RegistryApiClient;

namespace SelfTune.Admin.Tests.Infrastructure;

/// <summary>
/// The checked-in migrations build exactly the model, on the provider under test (the suite runs on both): a change to
/// <c>AdminDbContext</c> without its migrations for each provider fails here, not as a missing index or column on a
/// customer's database.
/// </summary>
public sealed class MigrationTests(AdminAppFactory app) : IClassFixture<AdminAppFactory>
{
    [Fact]
    public async Task The_migrations_of_the_provider_under_test_build_exactly_the_model()
    {
        var (provider, pending) = await app.WithDbAsync(db => Task.FromResult((db.Database.ProviderName, db.Database.HasPendingModelChanges())));
        Assert.False(pending, $"The model has changes that no {provider} migration makes: add one (README, Data/).");
    }

    /// <summary>
    /// An entry's version count (kept by each publish since EntryVersionCount) starts, on a database that had versions
    /// before that migration, as the number of versions it has: the migration taken back and applied again on a database
    /// holding an entry with three versions shows three, not zero.
    /// </summary>
    [Fact]
    public async Task Upgrading_to_kept_version_counts_counts_the_versions_already_published()
    {
        var client = app.CreateClient(app.DevelopmentKey);
        var id = (await CreateEntryAsync(client, UniqueName("counted"))).GetProperty("id").GetString()!;
        foreach (var version in new[] { "1.0.0", "1.1.0", "2.0.0-beta.1" })
            await PushAsync(client, id, version, SkillArchive(version));

        var count = await app.WithDbAsync(async db =>
        {
            var migrations = db.Database.GetMigrations().ToList();
            var before = migrations[migrations.FindIndex(m => m.EndsWith("_EntryVersionCount", StringComparison.Ordinal)) - 1];
            var migrator = db.GetService<IMigrator>();
            await migrator.MigrateAsync(before); // the column gone, as on a database from before it
            await migrator.MigrateAsync();
            return await db.Entries.Where(e => e.Id == Guid.Parse(id)).Select(e => e.VersionCount).SingleAsync();
        });

        Assert.Equal(3, count);
    }
}
