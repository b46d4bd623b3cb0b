using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;

namespace SelfTune.Admin.Tests.Infrastructure;

/// <summary>
/// The Azure Blob Storage emulator (Azurite) that the archive tests on object storage run against, one for the whole test
/// run: the connection string in <c>SELFTUNE_TEST_AZURITE</c> (./test.sh starts one and sets it), or else an
/// <c>azurite-blob</c> this test process starts on a free loopback port in a temporary folder and stops as it exits.
/// Without either, the Azurite tests fail saying how to install it: they are never skipped silently.
/// </summary>
public static partial class Azurite
{
    public const string ConnectionStringVariable = "SELFTUNE_TEST_AZURITE";

    /// <summary>Azurite's one well-known development account (documented, not a secret).</summary>
    const string Account = "devstoreaccount1";
    const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    static readonly Lazy<Task<string>> connectionString = new(() => Environment.GetEnvironmentVariable(ConnectionStringVariable) is { Length: > 0 } given
        ? Task.FromResult(given)
        : StartAsync());

    public static Task<string> ConnectionStringAsync() => connectionString.Value;

    public static string ConnectionStringFor(int port) =>
        $"DefaultEndpointsProtocol=http;AccountName={Account};AccountKey={AccountKey};BlobEndpoint=http://127.0.0.1:{port}/{Account};";

    static InvalidOperationException NotInstalled(string reason) => new(
        $"The archive tests on Azure Blob Storage need Azurite, and {reason}. Install it with `npm install -g azurite` " +
        $"(./test.sh does), or set {ConnectionStringVariable} to the connection string of a running Azurite.");

    [GeneratedRegex(@"listens on http://127\.0\.0\.1:(\d+)")]
    private static partial Regex ListeningLine();

    /// <summary>
    /// Runs azurite-blob ($1: its folder, then its options) until our end of the shell's standard input closes, which the
    /// OS does however this test process ends (even killed): then it stops Azurite and deletes the folder. A handler on
    /// process exit is not enough: the test host is not always let to run it.
    /// </summary>
    const string Supervisor = """
        location="$1"; shift
        command -v azurite-blob >/dev/null 2>&1 || { echo "the azurite-blob command was not found"; exit 127; }
        exec 3<&0
        azurite-blob --location "$location" "$@" &
        azurite=$!
        (cat <&3 >/dev/null 2>&1; kill "$azurite" 2>/dev/null) >/dev/null 2>&1 &
        exec 3<&-
        wait "$azurite"
        rm -rf "$location"
        """;

    /// <summary>Held for the whole run: its standard input, when closed, stops Azurite.</summary>
    static Process? emulator;

    static async Task<string> StartAsync()
    {
        var folder = Path.Combine(Path.GetTempPath(), "selftune-tests", "azurite-" + Guid.NewGuid().ToString("N"));
        // Port 0: Azurite takes a free port and says which in its "listens on" line.
        var start = new ProcessStartInfo("/bin/sh")
        {
            ArgumentList =
            {
                "-c", Supervisor, "azurite", folder,
                "--blobHost", "127.0.0.1", "--blobPort", "0", "--skipApiVersionCheck", "--loose", "--silent", "--disableTelemetry",
            },
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        var output = new ConcurrentQueue<string>();
        var listening = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        emulator = new Process { StartInfo = start };
        emulator.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                listening.TrySetException(NotInstalled("it did not start: " + string.Join(" | ", output)));
                return;
            }
            output.Enqueue(e.Data);
            if (ListeningLine().Match(e.Data) is { Success: true } m) listening.TrySetResult(int.Parse(m.Groups[1].Value));
        };
        emulator.ErrorDataReceived += (_, e) => { if (e.Data is not null) output.Enqueue(e.Data); };
        emulator.Start();
        emulator.BeginOutputReadLine();
        emulator.BeginErrorReadLine();

        // Node starts in seconds, a good deal slower on a loaded machine; two minutes is far beyond a healthy start.
        var port = await listening.Task.WaitAsync(TimeSpan.FromMinutes(2));
        return ConnectionStringFor(port);
    }
}
