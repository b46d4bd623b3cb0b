using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using SelfTune.Admin.Data;

namespace SelfTune.Admin.Tests.Infrastructure;

/// <summary>What an operator sees of the app's PostgreSQL tuning in the server's catalogs.</summary>
public sealed class PostgresTuningTests(AdminAppFactory app) : IClassFixture<AdminAppFactory>
{
    /// <summary><c>pg_prepared_statements</c>: the statements the app tags are prepared, the others not.</summary>
    [PostgresFact]
    public async Task A_tagged_query_is_prepared_on_its_connection_and_an_untagged_one_is_not() => await app.WithDbAsync(async db =>
    {
        await db.Database.OpenConnectionAsync(); // one connection for the queries and the look at what it holds prepared
        var deliveryId = Guid.NewGuid().ToString();
        await db.Deliveries.TagWith(PreparedStatements.Tag).Where(d => d.DeliveryId == deliveryId).ToListAsync();
        await db.Connections.Where(c => c.DefaultBranch == deliveryId).ToListAsync();

        var prepared = await db.Database.SqlQueryRaw<string>("""SELECT statement AS "Value" FROM pg_prepared_statements""").ToListAsync();
        Assert.Contains(prepared, s => s.StartsWith("-- " + PreparedStatements.Tag) && s.Contains("FROM \"Deliveries\""));
        Assert.DoesNotContain(prepared, s => s.Contains("FROM \"Connections\""));
        return 0;
    });

    /// <summary>
    /// The app's pooled connections go back to the pool without Npgsql's reset (DatabaseSetup says why), so nothing may
    /// leave a session lock on one: after start-up (migrations under the advisory lock) no session of this instance
    /// holds any.
    /// </summary>
    [PostgresFact]
    public async Task Pooled_connections_skip_the_reset_and_none_is_left_holding_the_migration_lock() => await app.WithDbAsync(async db =>
    {
        var settings = app.Services.GetRequiredService<DatabaseSettings>();
        Assert.True(new NpgsqlConnectionStringBuilder(settings.ConnectionString).NoResetOnClose);
        await db.Database.OpenConnectionAsync();
        var held = await db.Database.SqlQueryRaw<int>("""
            SELECT count(*)::int AS "Value" FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND a.application_name = {0}
            """, settings.InstanceName!).SingleAsync();
        Assert.Equal(0, held);
        return 0;
    });

    /// <summary>The migration DeliveryPayloadLz4: webhook payloads are compressed with lz4 (the server here has it).</summary>
    [PostgresFact]
    public async Task Webhook_payloads_are_compressed_with_lz4() => await app.WithDbAsync(async db =>
    {
        var method = await db.Database.SqlQueryRaw<string>("""
            SELECT attcompression::text AS "Value" FROM pg_attribute WHERE attrelid = '"Deliveries"'::regclass AND attname = 'Payload'
            """).SingleAsync();
        Assert.Equal("l", method); // pg_attribute: 'p' pglz, 'l' lz4, '' the server's default
        return 0;
    });
}
