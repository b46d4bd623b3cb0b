using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using SelfTune.Admin.Data;
using Xunit.Abstractions;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>Memory measurements see the whole process: their tests run alone, after the parallel ones.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MemoryMeasurement
{
    public const string Name = "Memory measurement";
}

/// <summary>
/// Issue 8, item 6: an unauthenticated post must not cost the server its body in memory. Twelve concurrent unsigned
/// 24 MB posts used to take the process from 431 MB to 1,005 MB, because each body was buffered (and copied) before the
/// signature was looked at.
/// </summary>
[Collection(MemoryMeasurement.Name)]
public sealed class WebhookMemoryTests(GitHubHarness h, ITestOutputHelper output) : IClassFixture<GitHubHarness>
{
    const int ConcurrentPosts = 12;
    const int BodyBytes = 20 * 1024 * 1024;

    Uri WebhookUrl => new(h.Api.BaseAddress!, "/api/v1/github/webhook");

    /// <summary>A post without X-Hub-Signature-256 whose body streams from <paramref name="body"/> (shared, so the client adds no copies).</summary>
    HttpRequestMessage Unsigned(byte[] body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, WebhookUrl) { Content = new StreamContent(new MemoryStream(body, writable: false)) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Add("X-GitHub-Event", "push");
        request.Headers.Add("X-GitHub-Delivery", Guid.NewGuid().ToString());
        return request;
    }

    [Fact]
    public async Task Concurrent_unsigned_20_mb_posts_are_refused_without_buffering_and_a_signed_delivery_still_goes_through()
    {
        var body = new byte[BodyBytes];
        Array.Fill(body, (byte)' ');
        using (var warmUp = await h.Api.SendAsync(Unsigned(new byte[16]))) // JIT and first-request costs stay out of the measure
            Assert.Equal(HttpStatusCode.Unauthorized, warmUp.StatusCode);
        var deliveriesBefore = await h.App.WithDbAsync(db => db.Deliveries.CountAsync(d => d.Outcome != DeliveryOutcome.Rejected));

        GC.Collect();
        GC.WaitForPendingFinalizers();
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var responses = await Task.WhenAll(Enumerable.Range(0, ConcurrentPosts).Select(_ => h.Api.SendAsync(Unsigned(body))));
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;

        output.WriteLine($"{ConcurrentPosts} concurrent unsigned posts of {BodyBytes / (1024 * 1024)} MB allocated {allocated / (1024.0 * 1024):F1} MB in the process.");
        foreach (var response in responses)
        {
            await GitHubHarness.AssertProblemAsync(response, HttpStatusCode.Unauthorized, "invalid_signature");
            response.Dispose();
        }
        // Buffering even one of the bodies would cost BodyBytes; all twelve used to cost more than three times that each.
        Assert.True(allocated < BodyBytes, $"Unsigned posts allocated {allocated / (1024 * 1024)} MB: the bodies were read before the signature was checked.");
        // Refused posts are recorded as rejected without their body (RejectedDeliveryTests); nothing else is stored.
        Assert.Equal(deliveriesBefore, await h.App.WithDbAsync(db => db.Deliveries.CountAsync(d => d.Outcome != DeliveryOutcome.Rejected)));

        // A signed delivery of a few megabytes (a large one, so it goes through the bound on large bodies) is still accepted and processed.
        var ping = GitHubHarness.SharedPayload("ping/with-app_id.payload.json");
        ping["hook"]!["app_id"] = h.GitHub.AppId;
        ping["padding"] = new string('x', 3 * 1024 * 1024);
        var deliveryId = await h.SendAsync("ping", ping.ToJsonString(), HttpStatusCode.Accepted);
        var row = await h.WaitForDeliveryAsync(deliveryId);
        Assert.Equal(DeliveryOutcome.Processed, row.Outcome);
        Assert.Contains("\"padding\"", row.Payload);
    }
    /// <summary>
    /// Issue 14: a flood of unsigned 20 MB posts from one address is answered 429 with Retry-After once that address has
    /// failed the signature check <see cref="Admin.GitHub.Webhooks.WebhookBodyGate.FailuresPerWindow"/> times, costs no
    /// memory (≤ 100 MB allocated for 1.2 GB sent), and a signed delivery from the same address is still accepted.
    /// </summary>
    [Fact]
    public async Task A_flood_of_unsigned_20_mb_posts_gets_429s_with_flat_memory_and_signed_deliveries_still_arrive()
    {
        // Its own app: the flood blocks this address for a minute, which the class's other test must not meet.
        var app = new GitHubHarness();
        await app.InitializeAsync();
        try { await FloodAsync(app); }
        finally { await app.DisposeAsync(); }
    }

    async Task FloodAsync(GitHubHarness h)
    {
        const int posts = 60;
        var body = new byte[BodyBytes];
        Array.Fill(body, (byte)' ');
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        using var inFlight = new SemaphoreSlim(ConcurrentPosts);
        var statuses = await Task.WhenAll(Enumerable.Range(0, posts).Select(async _ =>
        {
            await inFlight.WaitAsync();
            try
            {
                using var response = await h.Api.SendAsync(Unsigned(body));
                if (response.StatusCode == HttpStatusCode.TooManyRequests) Assert.NotNull(response.Headers.RetryAfter);
                return response.StatusCode;
            }
            finally { inFlight.Release(); }
        }));
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        var limited = statuses.Count(s => s == HttpStatusCode.TooManyRequests);
        output.WriteLine($"{posts} unsigned posts of {BodyBytes / (1024 * 1024)} MB: {limited} answered 429, {statuses.Count(s => s == HttpStatusCode.Unauthorized)} answered 401; {allocated / (1024.0 * 1024):F1} MB allocated.");

        Assert.All(statuses, s => Assert.True(s is HttpStatusCode.TooManyRequests or HttpStatusCode.Unauthorized, s.ToString()));
        Assert.True(limited >= posts - Admin.GitHub.Webhooks.WebhookBodyGate.FailuresPerWindow - ConcurrentPosts, $"only {limited} of {posts} were rate limited");
        Assert.True(allocated < 100 * 1024 * 1024, $"the flood allocated {allocated / (1024 * 1024)} MB");

        var ping = GitHubHarness.SharedPayload("ping/with-app_id.payload.json");
        ping["hook"]!["app_id"] = h.GitHub.AppId;
        var deliveryId = await h.SendAsync("ping", ping.ToJsonString(), HttpStatusCode.Accepted);
        Assert.Equal(DeliveryOutcome.Processed, (await h.WaitForDeliveryAsync(deliveryId)).Outcome);
    }
}
