namespace SelfTune.Admin.Auth;

/// <summary>In-process news that an org's keys changed (used, created, revoked), so the API keys page stays current.</summary>
public sealed class ApiKeyNotifier
{
    public event Action<Guid>? Changed;

    public void Publish(Guid orgId) => Changed?.Invoke(orgId);
}
