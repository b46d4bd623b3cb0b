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
        builder.AddSelfTuneDatabase(dataDir); // Data/DatabaseSetup.cs: the provider, its DbContext, where the keys live
        services.AddArchiveStorage(config, dataDir); // Registry/ArchiveStorageSetup.cs: a folder or Azure Blob Storage
    }

    /// <summary>Applies checked-in migrations and, in Development, the development seed.</summary>
    public static async Task InitializeDatabaseAsync(this WebApplication app)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AdminDbContext>();
        await DatabaseSetup.MigrateAsync(db, async () =>
        {
            if (app.Environment.IsDevelopment())
                await DevelopmentSeed.ApplyAsync(db, app.Configuration, scope.ServiceProvider.GetRequiredService<TimeProvider>());
        });
    }
}
