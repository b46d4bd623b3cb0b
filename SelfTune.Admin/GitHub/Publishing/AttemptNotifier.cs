using SelfTune.Admin.Data;
using SelfTune.Admin.Infrastructure;

namespace SelfTune.Admin.GitHub.Publishing;

/// <summary>
/// Tells the <see cref="IChangeFeed"/> that an attempt was created, started or finished. Publishers keep calling
/// <see cref="Publish"/> with the attempt they saved; subscribers listen on the feed (<see cref="ChangeKind.Attempt"/>).
/// </summary>
public sealed class AttemptNotifier(IChangeFeed feed)
{
    public void Publish(PublishAttempt attempt) =>
        feed.Publish(new Change(attempt.OrgId, ChangeKind.Attempt, attempt.Id, attempt.ConnectionId));
}
