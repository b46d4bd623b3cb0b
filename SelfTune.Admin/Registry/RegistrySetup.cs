namespace SelfTune.Admin.Registry;

public static class RegistrySetup
{
    /// <summary>Entries and versions: writes, reads and CLI uploads. The archive store is part of the app's data (Data/DatabaseSetup.cs).</summary>
    public static void AddRegistry(this WebApplicationBuilder builder)
    {
        builder.Services.AddScoped<RegistryService>();
        builder.Services.AddSingleton<RegistryQueries>(); // a context per call, from the factory
        builder.Services.AddScoped<UploadService>();
        builder.Services.AddSingleton<WithdrawalService>(); // a context per call: the entry page holds it too
    }
}
