using Microsoft.Extensions.DependencyInjection;
using SelfTune.Admin.Registry;
using SelfTune.Admin.Registry.Packaging;
using SelfTune.Admin.Tests.Infrastructure;
using SelfTune.Admin.Tests.Packaging;

namespace SelfTune.Admin.Tests.Registry;

/// <summary>
/// Issue 8, item 11: files being staged outlive a process that dies (on Unix even "delete on close" files, since the
/// process itself deletes them). All of them live in the archive store's staging folder, which the app clears of old
/// files as it starts.
/// </summary>
public sealed class StagingFolderTests : IDisposable
{
    readonly string dataPath = Path.Combine(Path.GetTempPath(), "selftune-tests", "staging-" + Guid.NewGuid().ToString("N"));

    string Staging => Path.Combine(dataPath, "archives", "staging");

    public void Dispose()
    {
        try { Directory.Delete(dataPath, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    string WriteFile(string path, TimeSpan age)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, "partial upload");
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow - age);
        return path;
    }

    [Fact]
    public async Task Start_up_removes_staging_files_a_crashed_run_left_and_keeps_recent_ones()
    {
        var leftByCrash = WriteFile(Path.Combine(Staging, "0123456789abcdef0123456789abcdef"), TimeSpan.FromHours(2));
        var spoolLeftByCrash = WriteFile(Path.Combine(Staging, "scratch-0123456789abcdef"), TimeSpan.FromHours(1) + TimeSpan.FromMinutes(1));
        // Another instance on the same folder may be writing this one right now.
        var inFlight = WriteFile(Path.Combine(Staging, "fedcba9876543210fedcba9876543210"), TimeSpan.FromMinutes(5));
        // Stored archives are never touched, however old.
        var stored = WriteFile(Path.Combine(dataPath, "archives", "sha256", "ab", new string('a', 64) + ".tar.gz"), TimeSpan.FromDays(30));

        await using (var app = new AdminAppFactory(dataPath))
        {
            _ = app.Services; // starts the host; nothing asks for the archive store yet

            Assert.False(File.Exists(leftByCrash));
            Assert.False(File.Exists(spoolLeftByCrash));
            Assert.True(File.Exists(inFlight));
            Assert.True(File.Exists(stored));
        }
    }

    [Fact]
    public async Task A_github_repack_spools_into_the_staging_folder_and_leaves_nothing()
    {
        await using var app = new AdminAppFactory(dataPath);
        var store = app.Services.GetRequiredService<ArchiveStore>();
        const string top = "acme-skills-abc1234/";
        // Over the megabyte a repack keeps in memory: the rest goes to the spool file.
        byte[] tarball = new TarBuilder().Directory(top)
            .File(top + "skills/foo/SKILL.md", "---\nname: foo\ndescription: Foo.\n---\n").File(top + "skills/foo/run.sh", "echo hi\n")
            .Zeros(top + "skills/foo/data-1.bin", 700 * 1024).Zeros(top + "skills/foo/data-2.bin", 700 * 1024).ToTarGz();
        string[] whileOpen = [];

        await SkillArchive.RepackAsync(new CountingInput(tarball), "skills/foo", new MemoryStream(), () =>
        {
            var spool = store.CreateScratchFile();
            whileOpen = Directory.GetFiles(Staging);
            return spool;
        }, PackagingLimits.Default);

        var spoolFile = Assert.Single(whileOpen);
        Assert.StartsWith("scratch-", Path.GetFileName(spoolFile));
        Assert.Empty(Directory.GetFiles(Staging)); // deleted when closed
    }
}
