using SelfTune.Admin.Data;

namespace SelfTune.Admin.GitHub.Publishing;

/// <summary>
/// In-process news of attempts (created, running, finished) for pages that show them live. A page subscribes for its
/// org and re-reads what it shows; events carry just enough to decide whether to.
/// </summary>
public sealed class AttemptNotifier
{
    public event Action<AttemptChanged>? Changed;

    public void Publish(PublishAttempt attempt) =>
        Changed?.Invoke(new AttemptChanged(attempt.OrgId, attempt.ConnectionId, attempt.Id, attempt.Status));
}

public sealed record AttemptChanged(Guid OrgId, Guid ConnectionId, Guid AttemptId, AttemptStatus Status);
