using Microsoft.Data.Sqlite;
using Npgsql;

namespace SelfTune.Admin.Data;

/// <summary>What a database error means, whichever provider raised it.</summary>
public static class DatabaseErrors
{
    const int SqliteConstraintUnique = 2067, SqliteConstraintPrimaryKey = 1555; // SQLITE_CONSTRAINT_UNIQUE, _PRIMARYKEY

    /// <summary>The save broke a unique index or primary key: the same row was stored by someone else first.</summary>
    public static bool IsUniqueViolation(this DbUpdateException e) => e.InnerException switch
    {
        SqliteException s => s.SqliteExtendedErrorCode is SqliteConstraintUnique or SqliteConstraintPrimaryKey,
        PostgresException p => p.SqlState == PostgresErrorCodes.UniqueViolation,
        _ => false,
    };
}
