using SelfTune.Admin.Infrastructure;

namespace SelfTune.Admin.Auth;

/// <summary>
/// Tells the <see cref="IChangeFeed"/> that an org's key changed (used, created, revoked), so the API keys page stays
/// current; subscribers listen on the feed (<see cref="ChangeKind.ApiKey"/>).
/// </summary>
public sealed class ApiKeyNotifier(IChangeFeed feed)
{
    public void Publish(Guid orgId, Guid? keyId = null) => feed.Publish(new Change(orgId, ChangeKind.ApiKey, keyId));
}
