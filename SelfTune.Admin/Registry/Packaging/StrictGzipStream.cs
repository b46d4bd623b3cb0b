using System.IO.Compression;

namespace SelfTune.Admin.Registry.Packaging;

/// <summary>
/// Decompresses a gzip file and makes sure it is whole. GZipStream checks each member's CRC-32 and length when it reads
/// the member's trailer (so only when read to the end), but on its own it ends quietly at a cut-off member and ignores
/// bytes after the last member that do not start another member. Both are caught here by watching the compressed input:
/// <list type="bullet">
/// <item>Cut off: when the input ends, GZipStream is handed one NUL byte (the probe) instead of the end. A gzip stream
/// that ended properly leaves it unread, since it does not start a member (0x1F 0x8B); one cut off in the middle takes it
/// in and asks for more, or fails on it.</item>
/// <item>Trailing data: GZipStream stops asking for input once the bytes after a member do not start another one; if it
/// ends before the probe was handed over, data follows the gzip stream.</item>
/// </list>
/// Further gzip members are read like the first (and so count against the decompressed budget of the reader above).
/// The compressed bytes are bounded too: deflate blocks and gzip members can be empty, so input that expands to
/// nothing would never reach a decompressed budget. Read to the end, then call <see cref="EnsureWhole"/>.
/// </summary>
sealed class StrictGzipStream : ReadOnlyStream
{
    readonly CompressedInput input;
    readonly GZipStream gzip;
    bool ended;

    public StrictGzipStream(Stream compressed, long compressedBudget, string archiveKind)
    {
        input = new CompressedInput(compressed, compressedBudget, archiveKind);
        gzip = new GZipStream(input, CompressionMode.Decompress, leaveOpen: true);
    }

    /// <summary>After the stream was read to its end: throws when the gzip data was cut off.</summary>
    public void EnsureWhole()
    {
        if (input.AskedPastProbe) throw new EndOfStreamException("The gzip data is cut off.");
    }

    // Both reads: GZipStream's own failures go to Failed; End's refusal (ended is set by then) passes through untouched.
    public override int Read(Span<byte> buffer)
    {
        if (ended || buffer.IsEmpty) return 0; // an empty read says nothing about the end
        try { return ReadOrEnd(gzip.Read(buffer)); }
        catch (InvalidDataException) when (!ended) { return Failed(); }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (ended || buffer.IsEmpty) return 0;
        try { return ReadOrEnd(await gzip.ReadAsync(buffer, cancellationToken)); }
        catch (InvalidDataException) when (!ended) { return Failed(); }
    }

    /// <summary>A read of <paramref name="n"/> bytes; none means GZipStream reached its end.</summary>
    int ReadOrEnd(int n) => n > 0 ? n : End();

    /// <summary>GZipStream refused its input: the end of a cut-off stream when it had been handed the probe, else corrupt data.</summary>
    int Failed()
    {
        // GZipStream says "unsupported compression method" for every zlib data error, a failed CRC-32 included.
        if (!input.ProbeServed) throw new InvalidDataException("its gzip data is corrupt (a CRC-32, length or compressed-data check failed)");
        // The probe landed inside a member: the real input ended before the gzip data did.
        input.AskedPastProbe = true;
        return End();
    }

    /// <summary>
    /// GZipStream reached its end. A cut-off stream ends quietly here (so the tar reader above reports the entry it cut
    /// short) and fails in <see cref="EnsureWhole"/>; bytes after the last member fail now.
    /// </summary>
    int End()
    {
        ended = true;
        if (!input.ProbeServed && !input.WasEmpty)
            throw new InvalidDataException("data follows the end of its gzip stream");
        return 0;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) gzip.Dispose();
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await gzip.DisposeAsync();
        await base.DisposeAsync();
    }

    /// <summary>The compressed input as GZipStream sees it: counted, and followed by the probe byte.</summary>
    sealed class CompressedInput(Stream inner, long budget, string archiveKind) : ReadOnlyStream
    {
        long read;

        /// <summary>The input ended and the probe byte was handed to GZipStream.</summary>
        public bool ProbeServed { get; private set; }

        /// <summary>GZipStream wanted input after the probe: the gzip data did not end where the input did.</summary>
        public bool AskedPastProbe { get; set; }

        /// <summary>The input had no bytes at all (reported as an empty archive, not as a gzip problem).</summary>
        public bool WasEmpty { get; private set; }

        public override int Read(Span<byte> buffer) => buffer.IsEmpty ? 0 : Next(ProbeServed ? 0 : inner.Read(buffer), buffer);

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            buffer.IsEmpty ? 0 : Next(ProbeServed ? 0 : await inner.ReadAsync(buffer, cancellationToken), buffer.Span);

        int Next(int n, Span<byte> buffer)
        {
            if (ProbeServed)
            {
                AskedPastProbe = true;
                return 0;
            }
            if (n > 0)
            {
                read += n;
                if (read > budget)
                    throw new PackagingException("archive_too_large", null,
                        $"The {archiveKind} is more than {PackagingRules.FormatBytes(budget)} of compressed data; it is far larger than a skill may be.");
                return n;
            }
            if (read == 0)
            {
                WasEmpty = true;
                return 0;
            }
            ProbeServed = true;
            buffer[0] = 0;
            return 1;
        }

    }
}
