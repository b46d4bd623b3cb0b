using Microsoft.Extensions.Logging.Abstractions;
using SelfTune.Admin.Infrastructure;

namespace SelfTune.Admin.Tests.Infrastructure;

/// <summary>The in-process change feed: who hears what, failing subscribers, and how a page's watch coalesces bursts.</summary>
public sealed class ChangeFeedTests
{
    static InProcessChangeFeed Feed() => new(NullLogger<InProcessChangeFeed>.Instance);

    [Fact]
    public void A_subscriber_hears_only_its_org_and_kinds_until_disposed()
    {
        var feed = Feed();
        var org = Guid.NewGuid();
        var heard = new List<Change>();
        var subscription = feed.Subscribe(org, [ChangeKind.Attempt], heard.Add);

        var mine = new Change(org, ChangeKind.Attempt, Guid.NewGuid());
        feed.Publish(mine);
        feed.Publish(new Change(Guid.NewGuid(), ChangeKind.Attempt, Guid.NewGuid()));
        feed.Publish(new Change(org, ChangeKind.ApiKey));
        subscription.Dispose();
        feed.Publish(new Change(org, ChangeKind.Attempt, Guid.NewGuid()));

        Assert.Equal([mine], heard);
    }

    [Fact]
    public void A_delivery_names_no_org_and_reaches_every_org_listening_with_the_ids_to_tell_whose_it_is()
    {
        var feed = Feed();
        var (one, other) = (Guid.NewGuid(), Guid.NewGuid());
        var (heardByOne, heardByOther, heardAttempts) = (new List<Change>(), new List<Change>(), new List<Change>());
        using var a = feed.Subscribe(one, [ChangeKind.Delivery], heardByOne.Add);
        using var b = feed.Subscribe(other, [ChangeKind.Delivery], heardByOther.Add);
        using var c = feed.Subscribe(one, [ChangeKind.Attempt], heardAttempts.Add);

        var delivery = new SelfTune.Admin.Data.WebhookDelivery
            { DeliveryId = "d-1", Event = "push", InstallationId = 7, RepositoryId = 42, Payload = "{}" };
        feed.Publish(Change.OfDelivery(delivery));

        var change = Assert.Single(heardByOne);
        Assert.Equal([change], heardByOther);
        Assert.Empty(heardAttempts); // other kinds do not hear it
        Assert.Null(change.OrgId);
        Assert.Equal((delivery.Id, "d-1"), (change.Id!.Value, change.ExternalId));
        Assert.True(change.IsFrom([7], []));
        Assert.True(change.IsFrom([], [42]));
        Assert.False(change.IsFrom([8], [43]));
    }

    [Theory]
    [InlineData("installation", true)]
    [InlineData("installation_repositories", true)]
    [InlineData("repository", true)]
    [InlineData("push", false)] // its attempts bring their own news
    [InlineData("check_run", false)]
    [InlineData("ping", false)]
    public void A_delivery_may_change_connections_only_when_its_event_changes_installation_or_connection_state(string eventName, bool changes)
    {
        var delivery = new SelfTune.Admin.Data.WebhookDelivery { DeliveryId = "d-2", Event = eventName, InstallationId = 7, RepositoryId = 42, Payload = "{}" };
        Assert.Equal(changes, Change.OfDelivery(delivery).MayChangeConnections);
    }

    [Fact]
    public void A_change_that_names_no_event_may_have_changed_connections()
    {
        var org = Guid.NewGuid();
        Assert.True(new Change(org, ChangeKind.Delivery).MayChangeConnections); // a re-sync
        Assert.True(new Change(null, ChangeKind.Delivery, Guid.NewGuid(), null, "d-3", 7, 42).MayChangeConnections); // an instance that names none
        Assert.True(new Change(org, ChangeKind.Attempt, Guid.NewGuid(), Guid.NewGuid()).MayChangeConnections);
    }

    [Fact]
    public void A_failing_subscriber_fails_neither_the_publisher_nor_the_others()
    {
        var feed = Feed();
        var org = Guid.NewGuid();
        var heard = 0;
        using var bad = feed.Subscribe(org, [ChangeKind.Delivery], _ => throw new InvalidOperationException("boom"));
        using var good = feed.Subscribe(org, [ChangeKind.Delivery], _ => heard++);

        feed.Publish(new Change(org, ChangeKind.Delivery, Guid.NewGuid()));

        Assert.Equal(1, heard);
    }

    [Fact]
    public async Task A_watch_runs_one_call_at_a_time_and_coalesces_a_burst_into_one_more()
    {
        var feed = Feed();
        var org = Guid.NewGuid();
        var release = new TaskCompletionSource();
        var calls = new List<int>();
        var second = new TaskCompletionSource();
        using var watch = feed.Watch(org, [ChangeKind.Attempt], work => work(), async changes =>
        {
            calls.Add(changes.Count);
            if (calls.Count == 1) await release.Task;
            else second.TrySetResult();
        });

        feed.Publish(new Change(org, ChangeKind.Attempt, Guid.NewGuid())); // starts the first call, which waits
        for (var i = 0; i < 5; i++) feed.Publish(new Change(org, ChangeKind.Attempt, Guid.NewGuid()));
        release.SetResult();
        await second.Task.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal([1, 5], calls);
    }

    [Fact]
    public async Task A_steady_stream_reaches_a_watch_at_most_once_per_spacing_with_every_change()
    {
        var feed = Feed();
        var org = Guid.NewGuid();
        var starts = new List<(long At, int Count)>();
        var first = new TaskCompletionSource();
        var second = new TaskCompletionSource();
        using var watch = feed.Watch(org, [ChangeKind.Attempt], work => work(), changes =>
        {
            starts.Add((Environment.TickCount64, changes.Count));
            (starts.Count == 1 ? first : second).TrySetResult();
            return Task.CompletedTask;
        });

        feed.Publish(new Change(org, ChangeKind.Attempt, Guid.NewGuid()));
        await first.Task.WaitAsync(TimeSpan.FromSeconds(10)); // the first call is over: nothing runs now
        for (var i = 0; i < 3; i++) feed.Publish(new Change(org, ChangeKind.Attempt, Guid.NewGuid())); // one publisher after another
        await second.Task.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal([1, 3], starts.Select(s => s.Count)); // the three waited for their turn together
        // The watch spaces the moments it starts calls; this reads the clock a moment later, inside each call, and on a
        // busy machine the first reading can come a few milliseconds after the watch's own (seen: 248 ms apart). Unpaced
        // calls would come 0-5 ms apart.
        Assert.True(starts[1].At - starts[0].At >= (long)ChangeFeedExtensions.WatchSpacing.TotalMilliseconds - 25, $"{starts[1].At - starts[0].At} ms apart");
    }

    [Fact]
    public async Task A_stream_that_lasts_a_second_reaches_a_watch_once_a_second_after_that()
    {
        var feed = Feed();
        var org = Guid.NewGuid();
        var starts = new List<long>();
        var done = new TaskCompletionSource();
        const int calls = ChangeFeedExtensions.StreamCalls + 3;
        // Each call publishes the next change before it returns: a stream with no pause, however slow the machine is.
        using var watch = feed.Watch(org, [ChangeKind.Attempt], work => work(), changes =>
        {
            starts.Add(Environment.TickCount64);
            Assert.Single(changes);
            if (starts.Count < calls) feed.Publish(new Change(org, ChangeKind.Attempt, Guid.NewGuid()));
            else done.TrySetResult();
            return Task.CompletedTask;
        });

        feed.Publish(new Change(org, ChangeKind.Attempt, Guid.NewGuid()));
        await done.Task.WaitAsync(TimeSpan.FromSeconds(30));

        var gaps = starts.Zip(starts.Skip(1), (a, b) => b - a).ToList();
        // As in the test above, each reading comes a moment after the watch's own: 25 ms of slack.
        Assert.All(gaps.Take(ChangeFeedExtensions.StreamCalls), gap => Assert.True(gap >= (long)ChangeFeedExtensions.WatchSpacing.TotalMilliseconds - 25, $"{gap} ms apart"));
        Assert.All(gaps.Skip(ChangeFeedExtensions.StreamCalls), gap => Assert.True(gap >= (long)ChangeFeedExtensions.StreamSpacing.TotalMilliseconds - 25, $"{gap} ms apart"));
        Assert.Equal(2, gaps.Skip(ChangeFeedExtensions.StreamCalls).Count()); // seven calls: four gaps of the first second, two after
    }

    [Fact]
    public async Task A_failing_call_goes_to_on_error_and_later_changes_still_arrive()
    {
        var feed = Feed();
        var org = Guid.NewGuid();
        var errors = new List<Exception>();
        var later = new TaskCompletionSource();
        var first = true;
        using var watch = feed.Watch(org, [ChangeKind.ApiKey], work => work(), changes =>
        {
            if (first) { first = false; throw new InvalidOperationException("boom"); }
            later.TrySetResult();
            return Task.CompletedTask;
        }, errors.Add);

        feed.Publish(new Change(org, ChangeKind.ApiKey));
        feed.Publish(new Change(org, ChangeKind.ApiKey));
        await later.Task.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Single(errors);
    }
}
