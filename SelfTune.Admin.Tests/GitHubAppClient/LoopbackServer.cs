using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace SelfTune.Admin.Tests.GitHubAppClient;

/// <summary>A minimal Kestrel server on 127.0.0.1:0 that records each request and lets the test answer it.</summary>
internal sealed class LoopbackServer : IAsyncDisposable
{
    public sealed record Seen(string Method, string PathAndQuery, string? Authorization, string? UserAgent, TimeSpan At);

    private readonly WebApplication _app;
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    public ConcurrentQueue<Seen> Requests { get; } = new();
    public Uri BaseUrl { get; private set; } = null!;

    private LoopbackServer(WebApplication app) => _app = app;

    public static async Task<LoopbackServer> StartAsync(Func<HttpContext, int, Task> handle)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var server = new LoopbackServer(app);
        var count = 0;
        app.Run(ctx =>
        {
            var req = ctx.Request;
            server.Requests.Enqueue(new Seen(req.Method, req.Path + req.QueryString,
                req.Headers.Authorization.FirstOrDefault(), req.Headers.UserAgent.FirstOrDefault(), server._clock.Elapsed));
            return handle(ctx, Interlocked.Increment(ref count));
        });
        await app.StartAsync();
        server.BaseUrl = new Uri(app.Urls.First() + "/");
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
