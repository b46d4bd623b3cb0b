using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace SelfTune.Admin.Infrastructure;

/// <summary>
/// What an operator needs to know when the app starts, in one block of the log: where it listens, how people sign in,
/// the development key, the GitHub App's state (and which settings are missing), the database, where archives and the
/// Data Protection keys live and whether those keys are encrypted at rest.
/// </summary>
public static class StartupBanner
{
    public static void LogStartupBanner(this WebApplication app)
    {
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            try { Log(app); }
            catch (Exception e) { app.Logger.LogWarning(e, "Could not write the start-up summary"); }
        });
    }

    static void Log(WebApplication app)
    {
        var services = app.Services;
        var config = app.Configuration;
        var dev = app.Environment.IsDevelopment();
        var addresses = services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        var oidc = services.GetRequiredService<OidcSettings>();
        var database = services.GetRequiredService<DatabaseSettings>();
        var archives = services.GetRequiredService<ArchiveStore>();
        var github = services.GetRequiredService<IOptionsMonitor<GitHubOptions>>().CurrentValue.MissingSettings();

        var signIn = oidc.IsConfigured ? $"OpenID Connect at {oidc.Authority}"
            : dev ? "the development sign-in (no OpenID Connect provider configured; Development only)" : "none configured";
        var devKey = dev && !string.IsNullOrEmpty(config["Development:ApiKey"]) ? "on (Development:ApiKey)" : "off";
        var gitHubState = github.Count == 0 ? "configured" : "not configured; missing " + string.Join(", ", github)
            + " (or create the App from Settings → GitHub)";
        var databaseText = database.Provider == DatabaseProvider.Postgres
            ? $"PostgreSQL ({Describe(new Npgsql.NpgsqlConnectionStringBuilder(database.ConnectionString))})"
            : $"SQLite ({new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder(database.ConnectionString).DataSource})";
        var keysEncrypted = !string.IsNullOrEmpty(config["DataProtection:CertificatePath"]);
        var keys = database.KeyStore(config)
            + (keysEncrypted ? ", encrypted with DataProtection:CertificatePath"
                : dev ? ", not encrypted at rest (fine on a developer's machine)"
                : ", NOT encrypted at rest: set DataProtection:CertificatePath (a PFX) and DataProtection:CertificatePassword");

        app.Logger.LogInformation(
            """
            SelfTune Admin started ({Environment})
              Listening on:  {Addresses}
              Sign-in:       {SignIn}
              Dev API key:   {DevKey}
              GitHub App:    {GitHub}
              Database:      {Database}
              Archives:      {Archives}
              Keys:          {Keys}
              API reference: /api-reference   Health: /healthz, /readyz
            """,
            app.Environment.EnvironmentName, addresses.Count == 0 ? "(in-process)" : string.Join(", ", addresses), signIn, devKey,
            gitHubState, databaseText, archives.Describe(), keys);
        if (!dev && !keysEncrypted)
            app.Logger.LogWarning("The Data Protection key ring is not encrypted at rest: set DataProtection:CertificatePath and DataProtection:CertificatePassword");
    }

    static string Describe(Npgsql.NpgsqlConnectionStringBuilder b) => $"{b.Host}:{b.Port}/{b.Database}"; // never the password
}
