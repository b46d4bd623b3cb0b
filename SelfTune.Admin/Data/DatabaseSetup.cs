using Microsoft.AspNetCore.DataProtection;

namespace SelfTune.Admin.Data;

/// <summary>Which database engine holds the data (<c>Database:Provider</c>).</summary>
public enum DatabaseProvider
{
    /// <summary>A file under the data folder: zero setup, one instance (the default).</summary>
    Sqlite,
    /// <summary>A PostgreSQL server (<c>ConnectionStrings:SelfTune</c>): what several instances share.</summary>
    Postgres,
}

/// <summary>The database settings the app runs with, for the parts that talk to the server itself (LISTEN/NOTIFY).</summary>
/// <param name="InstanceName">
/// PostgreSQL: the <c>application_name</c> of this instance's connections, unique to it (the configured one, or
/// "selftune", then "#" and eight random hex digits). The "Jobs" trigger's NOTIFY carries it, so an instance can tell its
/// own transactions' notifications (whose jobs its in-process wake-ups already announced) from other instances'; and
/// pg_stat_activity shows which instance holds a connection.
/// </param>
public sealed record DatabaseSettings(DatabaseProvider Provider, string ConnectionString, string? InstanceName = null)
{
    /// <summary>Where Data Protection keeps its keys: <c>DataProtection:KeyStore</c>, else the database on PostgreSQL (several instances share it) and a folder on SQLite.</summary>
    public string KeyStore(IConfiguration config) => config["DataProtection:KeyStore"] ?? (Provider == DatabaseProvider.Postgres ? "Database" : "FileSystem");
}

/// <summary>
/// The provider choice: the DbContext registration, where Data Protection keeps its keys, the cross-instance
/// notifications on PostgreSQL, and start-up migration.
/// </summary>
public static class DatabaseSetup
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
        builder.AddSelfTuneDatabase(dataDir); // below: the provider, its DbContext, where the keys live
        services.AddArchiveStorage(config, dataDir); // Registry/ArchiveStorageSetup.cs: a folder or Azure Blob Storage
        services.Configure<RetentionOptions>(config.GetSection("Retention"));
        services.AddSingleton<RetentionService>();
        services.AddHostedService(sp => sp.GetRequiredService<RetentionService>());
    }

    /// <summary>Applies checked-in migrations and, in Development, the development seed.</summary>
    public static async Task InitializeDatabaseAsync(this WebApplication app)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AdminDbContext>();
        await MigrateAsync(db, async () =>
        {
            if (app.Environment.IsDevelopment())
                await DevelopmentSeed.ApplyAsync(db, app.Configuration, scope.ServiceProvider.GetRequiredService<TimeProvider>());
        });
    }

    /// <summary>
    /// Registers <see cref="AdminDbContext"/> (scoped) and <see cref="IDbContextFactory{AdminDbContext}"/> for the configured
    /// provider, Data Protection's key store and, on PostgreSQL, the change feed and job wake-ups across instances.
    /// </summary>
    /// <param name="dataDir">The data folder: the default SQLite file and the file-system key ring live there.</param>
    public static void AddSelfTuneDatabase(this WebApplicationBuilder builder, string dataDir)
    {
        var services = builder.Services;
        var config = builder.Configuration;
        var settings = ReadSettings(config, builder.Environment, dataDir);
        services.AddSingleton(settings);

        if (settings.Provider == DatabaseProvider.Postgres)
        {
            // The hottest statements prepared on their connections (PreparedStatements says why and which).
            services.AddDbContextFactory<PostgresAdminDbContext>(o => o.UseNpgsql(settings.ConnectionString).AddInterceptors(new PreparedStatements()));
            // Everything outside Data asks for AdminDbContext: hand it the PostgreSQL one.
            services.AddSingleton<IDbContextFactory<AdminDbContext>>(sp =>
                new DerivedContextFactory<PostgresAdminDbContext>(sp.GetRequiredService<IDbContextFactory<PostgresAdminDbContext>>()));
            services.AddScoped<AdminDbContext>(sp => sp.GetRequiredService<PostgresAdminDbContext>());
            services.AddSingleton<PostgresChangeFeed>();
            services.AddSingleton<IChangeFeed>(sp => sp.GetRequiredService<PostgresChangeFeed>());
            services.AddHostedService<PostgresNotifications>();
        }
        else
        {
            // The factory also registers AdminDbContext as scoped; Blazor components use the factory (a circuit outlives a request).
            // Writers of this process queue for the file's one write lock instead of sleeping in SQLite's busy handler.
            services.AddSingleton<SqliteWriteGate>();
            services.AddDbContextFactory<AdminDbContext>((sp, o) => o.UseSqlite(settings.ConnectionString)
                .AddInterceptors(new SqlitePragmas(), sp.GetRequiredService<SqliteWriteGate>()));
            // ... and none of them waits for a checkpoint of the write-ahead log: that runs in the background.
            services.AddSingleton<SqliteCheckpointer>();
            services.AddHostedService(sp => sp.GetRequiredService<SqliteCheckpointer>());
        }

        // Several instances must read each other's cookies, antiforgery tokens and stored App credentials: one key ring in
        // the database, under a fixed application name (the default is the content root, which differs between hosts).
        // One instance keeps the folder it always used, so its existing keys (and what they protect) stay valid.
        var keyStore = settings.KeyStore(config);
        var dataProtection = services.AddDataProtection();
        if (keyStore.Equals("Database", StringComparison.OrdinalIgnoreCase))
            dataProtection.SetApplicationName("SelfTune.Admin").PersistKeysToDbContext<AdminDbContext>();
        else if (keyStore.Equals("FileSystem", StringComparison.OrdinalIgnoreCase))
            dataProtection.PersistKeysToFileSystem(new DirectoryInfo(Path.Combine(dataDir, "keys")));
        else
            throw new InvalidOperationException($"DataProtection:KeyStore must be FileSystem or Database, not '{keyStore}'.");

        // The key ring encrypted at rest with a certificate (a PFX file and its password). Without one the keys are stored
        // as they are: fine in Development, a warning at start-up elsewhere (see StartupBanner).
        if (config["DataProtection:CertificatePath"] is { Length: > 0 } certificatePath)
            dataProtection.ProtectKeysWithCertificate(System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadPkcs12FromFile(
                Path.GetFullPath(certificatePath, builder.Environment.ContentRootPath), config["DataProtection:CertificatePassword"]));
        // The framework warns about unencrypted keys once per key, in words that alarm in Development; the banner says it once, plainly.
        builder.Logging.AddFilter("Microsoft.AspNetCore.DataProtection.KeyManagement.XmlKeyManager", LogLevel.Error);
        builder.Logging.AddFilter("Microsoft.AspNetCore.DataProtection.Repositories.FileSystemXmlRepository", LogLevel.Error);
    }

    static DatabaseSettings ReadSettings(IConfiguration config, IHostEnvironment env, string dataDir)
    {
        var name = config["Database:Provider"];
        if (!Enum.TryParse<DatabaseProvider>(string.IsNullOrWhiteSpace(name) ? nameof(DatabaseProvider.Sqlite) : name, ignoreCase: true, out var provider)
            || !Enum.IsDefined(provider))
            throw new InvalidOperationException($"Database:Provider must be Sqlite or Postgres, not '{name}'.");

        var connectionString = config.GetConnectionString("SelfTune");
        if (provider == DatabaseProvider.Postgres)
        {
            if (string.IsNullOrWhiteSpace(connectionString))
                throw new InvalidOperationException("Database:Provider=Postgres needs ConnectionStrings:SelfTune (e.g. Host=db;Database=selftune;Username=selftune;Password=...).");
            var postgres = new Npgsql.NpgsqlConnectionStringBuilder(connectionString);
            // The server keeps 63 bytes of an application_name: the random part must survive that.
            var prefix = string.IsNullOrWhiteSpace(postgres.ApplicationName) ? "selftune" : postgres.ApplicationName;
            var instance = $"{(prefix.Length > 40 ? prefix[..40] : prefix)}#{Guid.NewGuid().ToString("N")[..8]}";
            postgres.ApplicationName = instance;
            // A connection goes back to the pool without Npgsql's reset, unless the connection string says otherwise. The
            // reset (RESET ALL, CLOSE ALL, UNLISTEN *, pg_advisory_unlock_all() and more, sent with the connection's next
            // command) undoes session state the app never leaves behind: it sets no session variables, LISTENs on a
            // connection of its own, and takes its one session lock (migrations, below) on a connection it unlocks before
            // returning. It cost 0.2-0.45 ms on each open of a pooled connection (EF Core opens one for every statement
            // outside a transaction): an EF Core read by key 0.43-0.75 ms with it, a median of 0.27 ms without (README "Benchmarks").
            var given = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString };
            if (!given.ContainsKey("No Reset On Close") && !given.ContainsKey("NoResetOnClose")) postgres.NoResetOnClose = true;
            return new(provider, postgres.ConnectionString, instance);
        }

        // SQLite file under the data folder unless a connection string says otherwise.
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            var dbPath = Path.GetFullPath(config["Database:Path"] ?? Path.Combine(dataDir, "selftune.db"), env.ContentRootPath);
            Directory.CreateDirectory(Path.GetDirectoryName(dbPath)!);
            connectionString = $"Data Source={dbPath};Default Timeout=30";
        }
        return new(provider, connectionString);
    }

    /// <summary>Any number of 64-bit value: the one advisory lock the instances take around migrating ("SelfTune" in ASCII).</summary>
    const long MigrationLock = 0x5365_6C66_5475_6E65;

    /// <summary>
    /// Applies the provider's checked-in migrations, then <paramref name="afterMigrations"/> (the development seed). On
    /// PostgreSQL both run under a session advisory lock, so instances starting together migrate and seed one after the
    /// other instead of racing (the later ones find nothing left to do).
    /// </summary>
    public static async Task MigrateAsync(AdminDbContext db, Func<Task> afterMigrations, CancellationToken ct = default)
    {
        if (!db.Database.IsNpgsql())
        {
            await db.Database.MigrateAsync(ct);
            // WAL lets readers go on while a publish writes; it is a property of the file, set once.
            await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", ct);
            await afterMigrations();
            return;
        }

        await db.Database.OpenConnectionAsync(ct); // the advisory lock belongs to this session: keep it for the whole run
        try
        {
            // Waiting for another instance's migration has no time limit of its own (it can outlast the 30 s command
            // timeout on a busy server: an instance crashed so at start-up); stopping the host cancels the wait.
            var commandTimeout = db.Database.GetCommandTimeout();
            db.Database.SetCommandTimeout(TimeSpan.Zero);
            try
            {
                // Inside the try: a wait cancelled just as the server granted the lock still ends in the unlock below.
                await db.Database.ExecuteSqlAsync($"SELECT pg_advisory_lock({MigrationLock})", ct);
                db.Database.SetCommandTimeout(commandTimeout);
                await db.Database.MigrateAsync(ct);
                // This session read the server's types when it opened, before the lock. When another instance migrated
                // meanwhile, types it created (the citext of the first migration) are unknown here and every read of such
                // a column fails ("DataTypeName '-.-'") for the life of the process; nothing was left to migrate, so
                // nothing told Npgsql. Read them again: connections opened from the pool from now on see them.
                await ((Npgsql.NpgsqlConnection)db.Database.GetDbConnection()).ReloadTypesAsync(ct);
                await afterMigrations();
            }
            finally
            {
                // Every session lock this connection holds, not only the one taken: the pool hands it on without a reset.
                db.Database.SetCommandTimeout(commandTimeout);
                await db.Database.ExecuteSqlAsync($"SELECT pg_advisory_unlock_all()", CancellationToken.None);
            }
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }
    }

    /// <summary>Serves a provider's derived context to code that asks for <see cref="AdminDbContext"/>.</summary>
    sealed class DerivedContextFactory<TContext>(IDbContextFactory<TContext> inner) : IDbContextFactory<AdminDbContext>
        where TContext : AdminDbContext
    {
        public AdminDbContext CreateDbContext() => inner.CreateDbContext();

        public async Task<AdminDbContext> CreateDbContextAsync(CancellationToken ct = default) => await inner.CreateDbContextAsync(ct);
    }
}
