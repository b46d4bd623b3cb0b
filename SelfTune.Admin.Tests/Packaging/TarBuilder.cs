using System.Formats.Tar;
using System.IO.Compression;
using System.Text;

namespace SelfTune.Admin.Tests.Packaging;

/// <summary>Builds tar / tar.gz archives in memory for packaging tests, including hand-made headers TarWriter would not produce.</summary>
sealed class TarBuilder : IDisposable
{
    readonly MemoryStream tar = new();
    readonly TarWriter writer;
    bool finished;

    public TarBuilder(TarEntryFormat format = TarEntryFormat.Pax) => writer = new TarWriter(tar, format, leaveOpen: true);

    public TarBuilder File(string name, string content) => File(name, Encoding.UTF8.GetBytes(content));

    public TarBuilder File(string name, byte[] content) => Add(TarEntryType.RegularFile, name, e => e.DataStream = new MemoryStream(content));

    public TarBuilder Zeros(string name, long size) => File(name, new byte[size]);

    public TarBuilder Directory(string name) => Add(TarEntryType.Directory, name);

    public TarBuilder Symlink(string name, string target) => Add(TarEntryType.SymbolicLink, name, e => e.LinkName = target);

    public TarBuilder HardLink(string name, string target) => Add(TarEntryType.HardLink, name, e => e.LinkName = target);

    public TarBuilder CharDevice(string name) => Add(TarEntryType.CharacterDevice, name, e =>
    {
        var posix = (PosixTarEntry)e;
        posix.DeviceMajor = 1;
        posix.DeviceMinor = 3;
    });

    public TarBuilder GlobalHeader(string commit)
    {
        writer.WriteEntry(new PaxGlobalExtendedAttributesTarEntry(new Dictionary<string, string> { ["comment"] = commit }));
        return this;
    }

    /// <summary>A hand-made ustar header, for names TarWriter normalizes or a real tool would never write ("../x", "/etc/x").</summary>
    public TarBuilder Raw(string name, byte[] data, char type = '0', long? claimedSize = null)
    {
        tar.Write(RawHeader(name, type, claimedSize ?? data.Length));
        tar.Write(data);
        tar.Write(new byte[(512 - data.Length % 512) % 512]);
        return this;
    }

    public static byte[] RawHeader(string name, char type, long size)
    {
        var h = new byte[512];
        Encoding.ASCII.GetBytes(name).CopyTo(h, 0);
        Octal(h, 100, 8, 0x1A4);  // mode 0644
        Octal(h, 108, 8, 0);      // uid
        Octal(h, 116, 8, 0);      // gid
        Octal(h, 124, 12, size);
        Octal(h, 136, 12, 946684800); // mtime 2000-01-01
        h[156] = (byte)type;
        "ustar\0"u8.CopyTo(h.AsSpan(257));
        "00"u8.CopyTo(h.AsSpan(263));
        h.AsSpan(148, 8).Fill((byte)' ');
        int sum = 0;
        foreach (byte b in h) sum += b;
        Encoding.ASCII.GetBytes(Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ").CopyTo(h, 148);
        return h;
    }

    static void Octal(byte[] h, int offset, int length, long value) =>
        Encoding.ASCII.GetBytes(Convert.ToString(value, 8).PadLeft(length - 1, '0') + "\0").CopyTo(h, offset);

    public byte[] ToTar()
    {
        if (!finished)
        {
            writer.Dispose(); // writes the two end-of-archive blocks
            finished = true;
        }
        return tar.ToArray();
    }

    public byte[] ToTarGz() => Gzip(ToTar());

    public static byte[] Gzip(byte[] data, CompressionLevel level = CompressionLevel.Fastest)
    {
        var output = new MemoryStream();
        using (var gzip = new GZipStream(output, level, leaveOpen: true)) gzip.Write(data);
        return output.ToArray();
    }

    /// <summary>
    /// A tar.gz bomb: 4 GiB of valid tar (8M identical folder headers "a/") in about 4 MB of gzip, one 16 MiB member repeated
    /// 256 times. Built once, on first use.
    /// </summary>
    public static byte[] FolderHeaderBomb() => LazyFolderHeaderBomb.Value;

    static readonly Lazy<byte[]> LazyFolderHeaderBomb = new(() =>
    {
        byte[] header = RawHeader("a/", '5', 0);
        byte[] chunk = new byte[16 * 1024 * 1024];
        for (int i = 0; i < chunk.Length; i += 512) header.CopyTo(chunk, i);
        return RepeatedGzipMember(chunk, 256);
    });

    /// <summary>
    /// A gzip bomb without the memory: <paramref name="chunk"/> compressed once and that member repeated
    /// <paramref name="times"/> times (concatenated members are one valid gzip stream); 16 MiB x 256 = 4 GiB in about 4 MB.
    /// </summary>
    public static byte[] RepeatedGzipMember(byte[] chunk, int times)
    {
        byte[] member = Gzip(chunk, CompressionLevel.SmallestSize);
        byte[] bomb = new byte[member.Length * times];
        for (int i = 0; i < times; i++) member.CopyTo(bomb, i * member.Length);
        return bomb;
    }

    TarBuilder Add(TarEntryType type, string name, Action<TarEntry>? configure = null)
    {
        TarEntry entry = writer.Format switch
        {
            TarEntryFormat.Gnu => new GnuTarEntry(type, name),
            TarEntryFormat.Ustar => new UstarTarEntry(type, name),
            _ => new PaxTarEntry(type, name),
        };
        configure?.Invoke(entry);
        writer.WriteEntry(entry);
        return this;
    }

    public void Dispose()
    {
        if (!finished) writer.Dispose();
        tar.Dispose();
    }
}

/// <summary>Read-only, non-seekable view of a byte array that counts how much was read (like a network upload).</summary>
sealed class CountingInput(byte[] data) : SelfTune.Admin.Infrastructure.ReadOnlyStream
{
    readonly MemoryStream inner = new(data, writable: false);

    public long BytesRead { get; private set; }

    public override int Read(Span<byte> buffer)
    {
        int n = inner.Read(buffer);
        BytesRead += n;
        return n;
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(Read(buffer.Span));
}
