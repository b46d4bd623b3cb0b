using System.IO.Compression;
using SelfTune.Admin.Infrastructure;

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
internal sealed class StrictGzipStream : ReadOnlyStream
{
    private readonly CompressedInput _input;
    private readonly GZipStream _gzip;
    private bool _ended;

    public StrictGzipStream(Stream compressed, long compressedBudget, string archiveKind)
    {
        _input = new CompressedInput(compressed, compressedBudget, archiveKind);
        _gzip = new GZipStream(_input, CompressionMode.Decompress, leaveOpen: true);
    }

    /// <summary>After the stream was read to its end: throws when the gzip data was cut off.</summary>
    public void EnsureWhole()
    {
        if (_input.AskedPastProbe) throw new EndOfStreamException("The gzip data is cut off.");
    }

    public override int Read(Span<byte> buffer)
    {
        if (_ended || buffer.IsEmpty) return 0; // an empty read says nothing about the end
        int n;
        try
        {
            n = _gzip.Read(buffer);
        }
        catch (InvalidDataException) when (_input.ProbeServed)
        {
            // The probe landed inside a member: the real input ended before the gzip data did.
            _input.AskedPastProbe = true;
            n = 0;
        }
        catch (InvalidDataException)
        {
            // GZipStream says "unsupported compression method" for every zlib data error, a failed CRC-32 included.
            throw new InvalidDataException("its gzip data is corrupt (a CRC-32, length or compressed-data check failed)");
        }
        return n > 0 ? n : End();
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_ended || buffer.IsEmpty) return 0;
        int n;
        try
        {
            n = await _gzip.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidDataException) when (_input.ProbeServed)
        {
            _input.AskedPastProbe = true;
            n = 0;
        }
        catch (InvalidDataException)
        {
            throw new InvalidDataException("its gzip data is corrupt (a CRC-32, length or compressed-data check failed)");
        }
        return n > 0 ? n : End();
    }

    /// <summary>
    /// GZipStream reached its end. A cut-off stream ends quietly here (so the tar reader above reports the entry it cut
    /// short) and fails in <see cref="EnsureWhole"/>; bytes after the last member fail now.
    /// </summary>
    private int End()
    {
        _ended = true;
        if (!_input.ProbeServed && !_input.WasEmpty)
            throw new InvalidDataException("data follows the end of its gzip stream");
        return 0;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _gzip.Dispose();
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await _gzip.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>The compressed input as GZipStream sees it: counted, and followed by the probe byte.</summary>
    private sealed class CompressedInput(Stream inner, long budget, string archiveKind) : ReadOnlyStream
    {
        private long _read;

        /// <summary>The input ended and the probe byte was handed to GZipStream.</summary>
        public bool ProbeServed { get; private set; }

        /// <summary>GZipStream wanted input after the probe: the gzip data did not end where the input did.</summary>
        public bool AskedPastProbe { get; set; }

        /// <summary>The input had no bytes at all (reported as an empty archive, not as a gzip problem).</summary>
        public bool WasEmpty { get; private set; }

        public override int Read(Span<byte> buffer) => buffer.IsEmpty ? 0 : Next(ProbeServed ? 0 : inner.Read(buffer), buffer);

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            buffer.IsEmpty ? 0 : Next(ProbeServed ? 0 : await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false), buffer.Span);

        private int Next(int n, Span<byte> buffer)
        {
            if (ProbeServed)
            {
                AskedPastProbe = true;
                return 0;
            }
            if (n > 0)
            {
                _read += n;
                if (_read > budget)
                    throw new PackagingException("archive_too_large", null,
                        $"The {archiveKind} is more than {PackagingRules.FormatBytes(budget)} of compressed data; it is far larger than a skill may be.");
                return n;
            }
            if (_read == 0)
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
