using Microsoft.EntityFrameworkCore;
using SelfTune.Admin.Data;

namespace SelfTune.Admin.Tests.Infrastructure;

/// <summary>What an operator sees in <c>pg_prepared_statements</c>: the statements the app tags are prepared, the others not.</summary>
public sealed class PreparedStatementsTests(AdminAppFactory app) : IClassFixture<AdminAppFactory>
{
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
}
