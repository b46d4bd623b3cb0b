namespace SelfTune.Admin.GitHub;

public static class GitHubIntegrationSetup
{
    /// <summary>
    /// The GitHub App: its client and credentials, installations and connections, webhook deliveries, publishing and
    /// write-back, and the background jobs that carry them. Needs the job queue (Jobs/).
    /// </summary>
    public static void AddGitHubIntegration(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddGitHubClient(builder.Configuration);
        // App credentials from configuration, else from the manifest flow (registered after AddGitHubClient, so this
        // credential source is the one resolved).
        services.AddSingleton<StoredAppCredentials>();
        services.AddSingleton<GitHubAppCredentialSource>();
        services.AddSingleton<IGitHubAppCredentialSource>(sp => sp.GetRequiredService<GitHubAppCredentialSource>());
        services.AddScoped<AppManifestService>();
        services.AddScoped<GitHubSetupService>();
        services.AddScoped<RepositoryBrowser>();

        services.AddScoped<InstallationBinder>();
        services.AddScoped<ConnectionService>();
        services.AddSingleton<AttemptQueries>(); // a context per call, from the factory

        services.AddSingleton<GitHubLinks>(); // every GitHub web link the pages and the setup flow show
        services.AddSingleton<GitHubUserAuthorization>(); // binding's proof: GitHub's user authorization
        services.AddScoped<WriteBack>();
        services.AddScoped<SkillPackager>();
        services.AddScoped<AttemptBuilder>();
        services.AddScoped<PublishService>();
        services.AddScoped<SyncService>();
        services.AddScoped<ConnectionDrift>(); // what a sync or reconcile finds out of step with GitHub
        services.AddScoped<DirectImport>();
        services.AddScoped<ManualSync>();
        services.AddScoped<PreviewService>(); // the dry run: packages and chooses the version as publishing does

        services.AddScoped<WebhookProcessor>();
        services.AddSingleton<WebhookBodyGate>(); // bounds the large webhook bodies held at once
        services.AddSingleton<DeliveryIngest>(); // stores a delivery and its job, for the receiver and for replays
        services.AddSingleton<DeliveryBatchWriter>(); // the ingest's group commit
        services.AddScoped<DeliveryService>();
        services.AddSingleton<RejectedDeliveries>(); // records refused deliveries, bounded per address and per minute

        // The worker resolves the one handler registered under a job's kind.
        services.AddKeyedScoped<IJobHandler, PublishJobs.WebhookHandler>(PublishJobs.Webhook);
        services.AddKeyedScoped<IJobHandler, PublishJobs.PublishHandler>(PublishJobs.Publish);
        services.AddKeyedScoped<IJobHandler, PublishJobs.SyncHandler>(PublishJobs.Sync);
        services.AddHostedService<ReconciliationSweep>();
        services.AddDeliveryRecovery(builder.Configuration); // asks GitHub again for deliveries that never reached the app
    }
}
