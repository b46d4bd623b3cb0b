using System.Data.Common;
using Microsoft.EntityFrameworkCore;

namespace SelfTune.Admin.Tests.Infrastructure;

/// <summary>How SQLite runs an EF query: its plan (<c>EXPLAIN QUERY PLAN</c>), which index each step reads.</summary>
public static class SqlitePlan
{
    /// <summary>
    /// A command for <paramref name="query"/>'s SQL as EF's <c>ToQueryString</c> writes it for SQLite (its <c>.param set</c>
    /// lines become parameters), on <paramref name="connection"/> (open).
    /// </summary>
    public static DbCommand Command(DbConnection connection, IQueryable query)
    {
        var command = connection.CreateCommand();
        var lines = query.ToQueryString().Split('\n');
        foreach (var line in lines.Where(l => l.StartsWith(".param set ", StringComparison.Ordinal)))
        {
            var parts = line[".param set ".Length..].Split(' ', 2);
            var parameter = command.CreateParameter();
            parameter.ParameterName = parts[0];
            parameter.Value = parts[1].Trim().Trim('\'');
            command.Parameters.Add(parameter);
        }
        command.CommandText = string.Join('\n', lines.Where(l => !l.StartsWith(".param set ", StringComparison.Ordinal)));
        return command;
    }

    /// <summary>The plan's steps (<c>EXPLAIN QUERY PLAN</c>'s detail column), in order.</summary>
    public static async Task<List<string>> ExplainAsync(DbCommand command)
    {
        var query = command.CommandText;
        command.CommandText = "EXPLAIN QUERY PLAN " + query;
        try
        {
            var plan = new List<string>();
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync()) plan.Add(reader.GetString(3));
            return plan;
        }
        finally
        {
            command.CommandText = query;
        }
    }
}
