using System.Security.Cryptography;
using System.Text;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using SelfTune.Admin.Data;

namespace SelfTune.Admin.Tests.Infrastructure;

/// <summary>
/// The database provider the integration tests run on: SQLite (a file in each app's data folder) unless
/// <c>SELFTUNE_TEST_DATABASE=postgres</c>, then a database of its own per data folder on the PostgreSQL server of
/// <c>SELFTUNE_TEST_POSTGRES</c> (a connection string without Database; ./test.sh starts one and sets both).
/// </summary>
/// <remarks>
/// The database is named after the data folder, so hosts started on one folder (a second "instance", a restart) share
/// it as they share the SQLite file; whoever created the folder drops it (<see cref="Drop"/>), and what is left when
/// the test process ends (tests that delete their own folders) is dropped then.
/// </remarks>
public static class TestDatabase
{
    static readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte> Created = new();

    static TestDatabase() => AppDomain.CurrentDomain.ProcessExit += (_, _) =>
    {
        NpgsqlConnection.ClearAllPools();
        foreach (var name in Created.Keys)
            try { Execute($"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"); } catch (NpgsqlException) { }
    };

    public static bool IsPostgres { get; } =
        string.Equals(Environment.GetEnvironmentVariable("SELFTUNE_TEST_DATABASE"), "postgres", StringComparison.OrdinalIgnoreCase);

    static string Server =>
        Environment.GetEnvironmentVariable("SELFTUNE_TEST_POSTGRES") ?? "Host=127.0.0.1;Port=55433;Username=postgres";

    /// <summary>The settings that put an app on the data folder's database (none for SQLite: the folder says it). Creates the PostgreSQL database when missing.</summary>
    public static Dictionary<string, string?> AppSettings(string dataPath)
    {
        if (!IsPostgres) return [];
        Create(dataPath);
        return new() { ["Database:Provider"] = "Postgres", ["ConnectionStrings:SelfTune"] = ConnectionString(dataPath) };
    }

    /// <summary>A context on the data folder's database, the provider's own (for reading after or beside the app).</summary>
    public static AdminDbContext Open(string dataPath) => IsPostgres
        ? new PostgresAdminDbContext(new DbContextOptionsBuilder<PostgresAdminDbContext>().UseNpgsql(ConnectionString(dataPath)).Options)
        : new AdminDbContext(new DbContextOptionsBuilder<AdminDbContext>()
            .UseSqlite($"Data Source={Path.Combine(dataPath, "selftune.db")};Default Timeout=30").Options);

    /// <summary>Contexts from <see cref="Open"/>, for services built without the app.</summary>
    public sealed class Factory(string dataPath) : IDbContextFactory<AdminDbContext>
    {
        public AdminDbContext CreateDbContext() => Open(dataPath);
    }

    /// <summary>Drops the data folder's PostgreSQL database (its connections too); nothing for SQLite (the folder goes).</summary>
    public static void Drop(string dataPath)
    {
        if (!IsPostgres) return;
        NpgsqlConnection.ClearPool(new NpgsqlConnection(ConnectionString(dataPath)));
        Execute($"DROP DATABASE IF EXISTS \"{Name(dataPath)}\" WITH (FORCE)");
        Created.TryRemove(Name(dataPath), out _);
    }

    /// <summary>Releases the pooled connections of the SQLite files, so the folders can be deleted.</summary>
    public static void ClearSqlitePools()
    {
        if (!IsPostgres) SqliteConnection.ClearAllPools();
    }

    /// <summary>
    /// Takes the data folder's database away until the result is disposed: on PostgreSQL the database refuses connections
    /// and its open ones are ended; on SQLite the file moves aside (the app's next open finds an empty, unmigrated file).
    /// </summary>
    public static async Task<IAsyncDisposable> MakeUnreachableAsync(string dataPath)
    {
        if (IsPostgres)
        {
            var name = Name(dataPath);
            Execute($"ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false");
            Execute($"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()");
            return new Restore(() => Execute($"ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true"));
        }
        var file = Path.Combine(dataPath, "selftune.db");
        var aside = Path.Combine(dataPath, "aside");
        Directory.CreateDirectory(aside);
        SqliteConnection.ClearAllPools(); // the last close checkpoints the WAL into the file
        foreach (var suffix in new[] { "", "-wal", "-shm" })
            if (File.Exists(file + suffix)) File.Move(file + suffix, Path.Combine(aside, "selftune.db" + suffix));
        await Task.CompletedTask;
        return new Restore(() =>
        {
            SqliteConnection.ClearAllPools();
            foreach (var suffix in new[] { "-wal", "-shm" }) File.Delete(file + suffix);
            foreach (var suffix in new[] { "", "-wal", "-shm" })
                if (File.Exists(Path.Combine(aside, "selftune.db" + suffix))) File.Move(Path.Combine(aside, "selftune.db" + suffix), file + suffix, overwrite: true);
            SqliteConnection.ClearAllPools(); // connections opened on the empty stand-in meanwhile
        });
    }

    sealed class Restore(Action restore) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            restore();
            return ValueTask.CompletedTask;
        }
    }

    static void Create(string dataPath)
    {
        Created.TryAdd(Name(dataPath), 0);
        try { Execute($"CREATE DATABASE \"{Name(dataPath)}\""); }
        // Another host on this folder made it (a CREATE racing ours fails on pg_database's unique index instead).
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.DuplicateDatabase or PostgresErrorCodes.UniqueViolation) { }
    }

    static string ConnectionString(string dataPath) =>
        new NpgsqlConnectionStringBuilder(Server) { Database = Name(dataPath), MaxPoolSize = 30 }.ConnectionString;

    static string Name(string dataPath)
    {
        var path = Path.TrimEndingDirectorySeparator(Path.GetFullPath(dataPath));
        return "selftune_test_" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(path)))[..24];
    }

    static void Execute(string sql)
    {
        using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(Server) { Database = "postgres", Pooling = false }.ConnectionString);
        connection.Open();
        using var command = new NpgsqlCommand(sql, connection);
        command.ExecuteNonQuery();
    }
}
