using Microsoft.EntityFrameworkCore;

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
}
