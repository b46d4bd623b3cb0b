using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using SelfTune.Admin.GitHub.Client;

namespace SelfTune.Admin.Tests.GitHubAppClient;

internal static class TestServices
{
    public static readonly string Pem = AppJwtTests.Key.ExportRSAPrivateKeyPem();

    /// <summary>Container with AddGitHubClient pointed at a loopback server and fast retries.</summary>
    public static ServiceProvider Build(Uri apiBaseUrl, bool configured = true, IDictionary<string, string?>? extra = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["GitHub:ApiBaseUrl"] = apiBaseUrl.ToString(),
            ["GitHub:RetryBaseDelay"] = "00:00:00.050",
            ["GitHub:AttemptTimeout"] = "00:00:05",
        };
        if (configured)
        {
            settings["GitHub:AppId"] = "42";
            settings["GitHub:AppSlug"] = "selftune-test";
            settings["GitHub:PrivateKey"] = Pem;
            settings["GitHub:WebhookSecret"] = "hook-secret";
        }
        foreach (var (k, v) in extra ?? new Dictionary<string, string?>()) settings[k] = v;

        var config = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        return new ServiceCollection().AddGitHubClient(config).BuildServiceProvider();
    }
}
