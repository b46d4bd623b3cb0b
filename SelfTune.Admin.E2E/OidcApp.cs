namespace SelfTune.Admin.E2E;

/// <summary>The app signing browsers in through a real OpenID Connect provider (the production sign-in path).</summary>
public sealed class OidcApp : E2EApp
{
    public override async Task InitializeAsync()
    {
        Oidc = await OidcProvider.StartAsync();
        await base.InitializeAsync();
    }
}
