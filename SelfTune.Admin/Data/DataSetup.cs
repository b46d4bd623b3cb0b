using Microsoft.AspNetCore.DataProtection;

namespace SelfTune.Admin.Data;

/// <summary>Where the app keeps its state: the database, the Data Protection keys and the archive store, and their start-up.</summary>
public static class DataSetup
{
    /// <summary>
    /// SQLite file, keys and archives under the data folder (<c>Storage:DataPath</c>) unless configuration points elsewhere.
    /// </summary>
    public static void AddSelfTuneData(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        var config = builder.Configuration;
        var env = builder.Environment;

        var dataDir = Path.GetFullPath(config["Storage:DataPath"] ?? "data", env.ContentRootPath);
        var connectionString = config.GetConnectionString("SelfTune");
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            var dbPath = Path.GetFullPath(config["Database:Path"] ?? Path.Combine(dataDir, "selftune.db"), env.ContentRootPath);
            Directory.CreateDirectory(Path.GetDirectoryName(dbPath)!);
            connectionString = $"Data Source={dbPath};Default Timeout=30";
        }
        // The factory also registers AdminDbContext as scoped; Blazor components use the factory (a circuit outlives a request).
        services.AddDbContextFactory<AdminDbContext>(o => o.UseSqlite(connectionString).AddInterceptors(new SqlitePragmas()));
        services.AddDataProtection().PersistKeysToFileSystem(new DirectoryInfo(Path.Combine(dataDir, "keys")));

        services.AddArchiveStorage(config, dataDir); // Registry/ArchiveStorageSetup.cs: a folder or Azure Blob Storage
    }

    /// <summary>Applies checked-in migrations and, in Development, the development seed.</summary>
    public static async Task InitializeDatabaseAsync(this WebApplication app)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AdminDbContext>();
        await db.Database.MigrateAsync();
        // WAL lets readers go on while a publish writes; it is a property of the file, set once.
        await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;");
        if (app.Environment.IsDevelopment())
            await DevelopmentSeed.ApplyAsync(db, app.Configuration, scope.ServiceProvider.GetRequiredService<TimeProvider>());
    }
}
