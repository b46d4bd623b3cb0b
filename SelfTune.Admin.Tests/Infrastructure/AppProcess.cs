using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;

namespace SelfTune.Admin.Tests.Infrastructure;

/// <summary>
/// The real app as a child process (<c>dotnet SelfTune.Admin.dll</c>, or <c>dotnet run</c> from the repository), for tests that need what an in-process host
/// cannot give: a hard kill. Settings are passed as environment variables (<c>GitHub:AppId</c> → <c>GitHub__AppId</c>);
/// stdout and stderr are kept in <see cref="Output"/> for failure messages.
/// </summary>
public sealed class AppProcess : IAsyncDisposable
{
    // A cold start (JIT, migrations, the first request through the whole pipeline) took over a minute on a 2-core
    // machine running a build beside the suite; the wait ends as soon as the app is ready or exits, so a long bound
    // costs nothing when things are fast.
    static readonly TimeSpan DefaultReadyTimeout = TimeSpan.FromMinutes(3);
    static readonly TimeSpan ReadyPollInterval = TimeSpan.FromMilliseconds(100);

    // Children still running when the test process exits without disposing them (an aborted run) are killed then.
    static readonly System.Collections.Concurrent.ConcurrentDictionary<AppProcess, byte> Live = new();

    static AppProcess() => AppDomain.CurrentDomain.ProcessExit += (_, _) =>
    {
        foreach (var app in Live.Keys)
            try { app.process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { } catch (System.ComponentModel.Win32Exception) { }
    };

    readonly Process process;
    readonly StringBuilder output = new();
    bool disposed;

    AppProcess(Process process, Uri baseAddress)
    {
        this.process = process;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    public int ProcessId { get; private set; }

    public bool HasExited => process.HasExited;

    /// <summary>Everything the process wrote to stdout and stderr so far.</summary>
    public string Output
    {
        get { lock (output) return output.ToString(); }
    }

    /// <summary>
    /// SelfTune.Admin.dll beside the test assembly: the project reference copies it there together with its
    /// runtimeconfig.json and deps.json, and the test's bin folder holds every assembly those name.
    /// </summary>
    public static string AppDllPath
    {
        get
        {
            var dll = Path.Combine(AppContext.BaseDirectory, "SelfTune.Admin.dll");
            foreach (var required in new[] { dll, Path.ChangeExtension(dll, ".runtimeconfig.json"), Path.ChangeExtension(dll, ".deps.json") })
                if (!File.Exists(required))
                    throw new FileNotFoundException($"{Path.GetFileName(required)} is not beside the test assembly; build SelfTune.Admin.Tests.", required);
            return dll;
        }
    }

    /// <summary>The repository's root folder (the one holding SelfTune.Admin.sln), found upwards from the test assembly.</summary>
    public static string RepositoryRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "SelfTune.Admin.sln"))) return dir.FullName;
            throw new DirectoryNotFoundException($"No SelfTune.Admin.sln above {AppContext.BaseDirectory}.");
        }
    }

    /// <summary>
    /// Starts the app in Development on a free loopback port with <paramref name="settings"/> (configuration keys with
    /// ':'), and returns once <c>/readyz</c> answers 200. <paramref name="fromRepository"/>: as a developer runs it,
    /// <c>dotnet run --project SelfTune.Admin --no-build</c> in the repository root (content root = the project folder),
    /// instead of the dll in the test's bin folder.
    /// </summary>
    public static async Task<AppProcess> StartAsync(IReadOnlyDictionary<string, string?> settings, TimeSpan? readyTimeout = null, bool fromRepository = false)
    {
        // The free port is found by binding port 0 and letting it go, so another process may take it before the app
        // binds it; the app then exits at once with "address already in use" and a new port is tried.
        for (var attempt = 1; ; attempt++)
        {
            var app = Launch(settings, FreeLoopbackPort(), fromRepository);
            try
            {
                await app.WaitUntilReadyAsync(readyTimeout ?? DefaultReadyTimeout);
                return app;
            }
            catch (Exception) when (attempt < 3 && app.HasExited && app.Output.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
            {
                await app.DisposeAsync();
            }
            catch
            {
                await app.DisposeAsync();
                throw;
            }
        }
    }

    static AppProcess Launch(IReadOnlyDictionary<string, string?> settings, int port, bool fromRepository)
    {
        var baseAddress = new Uri($"http://127.0.0.1:{port}/");
        var start = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true, // so the child never reads the test runner's console
            UseShellExecute = false,
            CreateNoWindow = true,
        };
        var env = start.Environment;
        if (fromRepository)
        {
            // The launch profile would pin port 5080, which a parallel run may hold; --urls decides instead.
            start.WorkingDirectory = RepositoryRoot;
            foreach (var arg in new[] { "run", "--project", "SelfTune.Admin", "--no-build", "--no-launch-profile", "--" }) start.ArgumentList.Add(arg);
            env.Remove("ASPNETCORE_CONTENTROOT");
        }
        else
        {
            var dll = AppDllPath;
            var binFolder = Path.GetDirectoryName(dll)!;
            start.WorkingDirectory = binFolder;
            start.ArgumentList.Add(dll);
            // appsettings*.json are beside the dll; static files do not matter for the API.
            env["ASPNETCORE_CONTENTROOT"] = binFolder;
            // In Development the host loads the static web assets manifest, whose content roots are folders of the source
            // tree (wwwroot, obj/...) and fails to start when one is missing; the API needs none of them, so a manifest path
            // that does not exist turns that off and the child depends on the bin folder only.
            env["ASPNETCORE_STATICWEBASSETS"] = Path.Combine(binFolder, "no-static-web-assets.json");
        }
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add(baseAddress.GetLeftPart(UriPartial.Authority));

        env["ASPNETCORE_ENVIRONMENT"] = "Development";
        env.Remove("ASPNETCORE_URLS"); // --urls decides
        env["Authentication__Oidc__Authority"] = "";
        env["Logging__Console__FormatterOptions__SingleLine"] = "true";
        env["Logging__LogLevel__System.Net.Http.HttpClient"] = "Warning"; // a line per GitHub request otherwise
        env["Logging__LogLevel__Polly"] = "Warning";
        env["Logging__Console__FormatterOptions__TimestampFormat"] = "HH:mm:ss.fff ";
        foreach (var (key, value) in settings)
        {
            var name = key.Replace(":", "__", StringComparison.Ordinal);
            if (value is null) env.Remove(name);
            else env[name] = value;
        }

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var app = new AppProcess(process, baseAddress);
        process.OutputDataReceived += (_, e) => app.Append(e.Data);
        process.ErrorDataReceived += (_, e) => app.Append(e.Data);
        if (!process.Start()) throw new InvalidOperationException($"Could not start {start.FileName} {string.Join(' ', start.ArgumentList)}.");
        app.ProcessId = process.Id;
        Live.TryAdd(app, 0);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return app;
    }

    void Append(string? line)
    {
        if (line is null) return;
        lock (output) output.AppendLine(line);
    }

    /// <summary>
    /// Waits for <c>/readyz</c> to answer 200. A process starting up raises no event the test can wait on, so this is a
    /// bounded poll; it stops early when the process exits.
    /// </summary>
    async Task WaitUntilReadyAsync(TimeSpan timeout)
    {
        // No per-request timeout below the whole budget: cancelling a slow first /readyz only makes the app start that
        // work again on the next probe.
        using var http = new HttpClient { BaseAddress = BaseAddress, Timeout = Timeout.InfiniteTimeSpan };
        using var budget = new CancellationTokenSource(timeout);
        string last = "no answer yet";
        while (!budget.IsCancellationRequested)
        {
            if (process.HasExited)
            {
                await process.WaitForExitAsync(); // drains the output
                throw new InvalidOperationException($"The app (pid {ProcessId}) exited with code {process.ExitCode} before it was ready.\n{Output}");
            }
            try
            {
                using var response = await http.GetAsync("/readyz", budget.Token);
                if (response.StatusCode == HttpStatusCode.OK) return;
                last = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                last = e.Message;
            }
            try { await Task.Delay(ReadyPollInterval, budget.Token); } catch (OperationCanceledException) { }
        }
        throw new TimeoutException($"The app at {BaseAddress} (pid {ProcessId}) was not ready within {timeout} (last: {last}).\n{Output}");
    }

    public HttpClient CreateClient(string? apiKey)
    {
        var client = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        if (apiKey is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        return client;
    }

    /// <summary>
    /// A hard kill (SIGKILL on Unix, TerminateProcess on Windows) of the app and anything it started: no graceful
    /// stop, no hosted service gets to finish or release its jobs. Returns once the process is gone.
    /// </summary>
    public async Task KillAsync()
    {
        if (!process.HasExited) process.Kill(entireProcessTree: true);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(cts.Token);
    }

    /// <summary>
    /// A graceful stop, as an orchestrator or systemd asks for one: SIGTERM (Unix only), then waits up to
    /// <paramref name="timeout"/> for the process to exit. Returns its exit code.
    /// </summary>
    public async Task<int> TerminateAsync(TimeSpan timeout)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) throw new PlatformNotSupportedException("SIGTERM is a Unix signal.");
        using (var kill = Process.Start("kill", ["-TERM", ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            await kill.WaitForExitAsync();
        using var cts = new CancellationTokenSource(timeout);
        await process.WaitForExitAsync(cts.Token);
        return process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (disposed) return;
        disposed = true;
        try
        {
            await KillAsync();
        }
        catch (InvalidOperationException)
        {
            // Never started.
        }
        Live.TryRemove(this, out _);
        process.Dispose();
    }

    static int FreeLoopbackPort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }
        finally
        {
            listener.Stop();
        }
    }

    /// <summary>The dotnet host running the tests (the SDK sets DOTNET_HOST_PATH), else the test process itself if it is dotnet, else from PATH.</summary>
    static string DotnetHost()
    {
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } hostPath && File.Exists(hostPath)) return hostPath;
        if (Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self).Equals("dotnet", StringComparison.OrdinalIgnoreCase)) return self;
        return OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet";
    }
}
