using Microsoft.EntityFrameworkCore;
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
