using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using SelfTune.Admin.GitHub.Client;

namespace SelfTune.Admin.Tests.GitHubAppClient;

/// <summary>The "github" HttpClient's retry pipeline against a real loopback server.</summary>
public class GitHubResilienceTests
{
    private static async Task<(HttpResponseMessage Response, LoopbackServer.Seen[] Requests)> Send(
        Func<HttpContext, int, Task> handle, IDictionary<string, string?>? settings = null, HttpMethod? method = null, string path = "api/v3/thing")
    {
        await using var server = await LoopbackServer.StartAsync(handle);
        using var services = TestServices.Build(server.BaseUrl, extra: settings);
        var http = services.GetRequiredService<IHttpClientFactory>().CreateClient(GitHubClientFactory.HttpClientName);
        using var request = new HttpRequestMessage(method ?? HttpMethod.Get, new Uri(server.BaseUrl, path));
        if (request.Method == HttpMethod.Post) request.Content = new StringContent("{}");
        var response = await http.SendAsync(request);
        return (response, server.Requests.ToArray());
    }

    private static Task Status(HttpContext ctx, int status, params (string, string)[] headers)
    {
        ctx.Response.StatusCode = status;
        foreach (var (k, v) in headers) ctx.Response.Headers[k] = v;
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Retries_5xx_until_success()
    {
        var (response, requests) = await Send((ctx, n) => Status(ctx, n <= 2 ? 503 : 200));

        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal(3, requests.Length);
    }

    [Fact]
    public async Task A_POST_answered_5xx_is_not_repeated_since_GitHub_may_have_acted_on_it()
    {
        var (response, requests) = await Send((ctx, n) => Status(ctx, n == 1 ? 502 : 201), method: HttpMethod.Post, path: "api/v3/repos/o/r/check-runs");

        Assert.Equal(502, (int)response.StatusCode);
        Assert.Single(requests);
    }

    [Fact]
    public async Task A_POST_refused_by_a_rate_limit_is_repeated()
    {
        var (response, requests) = await Send((ctx, n) => n == 1 ? Status(ctx, 429, ("Retry-After", "0")) : Status(ctx, 201),
            method: HttpMethod.Post, path: "api/v3/repos/o/r/check-runs");

        Assert.Equal(201, (int)response.StatusCode);
        Assert.Equal(2, requests.Length);
    }

    [Fact]
    public async Task An_installation_token_POST_answered_5xx_is_repeated()
    {
        var (response, requests) = await Send((ctx, n) => Status(ctx, n == 1 ? 502 : 201), method: HttpMethod.Post, path: "api/v3/app/installations/1/access_tokens");

        Assert.Equal(201, (int)response.StatusCode);
        Assert.Equal(2, requests.Length);
    }

    [Fact]
    public async Task Waits_for_retry_after_on_secondary_rate_limit()
    {
        var (response, requests) = await Send((ctx, n) => n == 1 ? Status(ctx, 403, ("Retry-After", "1")) : Status(ctx, 200));

        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal(2, requests.Length);
        Assert.True(requests[1].At - requests[0].At >= TimeSpan.FromMilliseconds(950),
            $"retried after {(requests[1].At - requests[0].At).TotalMilliseconds} ms");
    }

    [Fact]
    public async Task Retry_after_beyond_max_delay_surfaces_the_response()
    {
        var (response, requests) = await Send((ctx, _) => Status(ctx, 429, ("Retry-After", "120")));

        Assert.Equal(429, (int)response.StatusCode);
        Assert.Single(requests);
    }

    [Fact]
    public async Task Not_found_is_not_retried()
    {
        var (response, requests) = await Send((ctx, _) => Status(ctx, 404));

        Assert.Equal(404, (int)response.StatusCode);
        Assert.Single(requests);
    }

    [Fact]
    public async Task Gives_up_after_max_retries()
    {
        var (response, requests) = await Send((ctx, _) => Status(ctx, 502), new Dictionary<string, string?> { ["GitHub:MaxRetries"] = "2" });

        Assert.Equal(502, (int)response.StatusCode);
        Assert.Equal(3, requests.Length);
    }

    [Fact]
    public async Task Attempt_timeout_is_retried()
    {
        var (response, requests) = await Send(async (ctx, n) =>
        {
            if (n == 1)
            {
                try { await Task.Delay(TimeSpan.FromSeconds(10), ctx.RequestAborted); } catch (OperationCanceledException) { }
                return;
            }
            ctx.Response.StatusCode = 200;
        }, new Dictionary<string, string?> { ["GitHub:AttemptTimeout"] = "00:00:00.300" });

        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal(2, requests.Length);
    }
}
