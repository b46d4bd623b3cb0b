using System.Text;

namespace SelfTune.Admin.Registry.Packaging;

/// <summary>
/// Wraps the decompressed tar stream that TarReader reads. Two jobs:
/// 1. Counts decompressed bytes and throws "archive_too_large" past <c>budget</c>, so a gzip bomb is refused
///    without being expanded fully.
/// 2. Follows the tar block structure and refuses oversized pax ('x', 'g') and GNU long-name ('L', 'K') entries
///    as their header passes through. TarReader buffers those whole (a 1 GiB claim means a 1 GiB allocation) before
///    a byte of their data is read, so counting alone cannot stop them.
/// The structure tracking mirrors TarReader: next header = header + 512 + size rounded up to 512, where a pax 'x'
/// "size" record overrides the size of the entry that follows. Anything it cannot mirror exactly is rejected.
/// 3. After the end-of-archive block only zero padding may follow: TarReader reads no further, but other tools can
///    (GNU tar --ignore-zeros), and they must not find entries this validation never saw.
/// </summary>
sealed class TarGuardStream(Stream inner, long budget, string archiveKind) : ReadOnlyStream
{
    /// <summary>Largest metadata entry accepted; real ones hold a path or a few attributes.</summary>
    internal const int MaxMetadataBytes = 256 * 1024;
    const int Block = 512;

    long read;
    bool ended;
    long nextHeader;
    readonly byte[] header = new byte[Block];
    int headerFill;
    byte previousType;
    byte[]? pax;           // data of the current 'x' entry, captured to learn a "size" override
    int paxFill;
    long? pendingSize;     // pax size override for the next header

    /// <summary>Decompressed bytes handed to the reader so far.</summary>
    public long BytesRead => read;

    public override long Position { get => read; set => throw new NotSupportedException(); }

    public override int Read(Span<byte> buffer)
    {
        int n = inner.Read(buffer);
        Observe(buffer[..n]);
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int n = await inner.ReadAsync(buffer, cancellationToken);
        Observe(buffer.Span[..n]);
        return n;
    }

    void Observe(ReadOnlySpan<byte> data)
    {
        long position = read;
        read += data.Length;
        if (read > budget)
            throw new PackagingException("archive_too_large", null,
                $"The {archiveKind} expands to more than {PackagingRules.FormatBytes(budget)} when decompressed; " +
                "it is far larger than a skill may be, or it is a compression bomb.");

        while (!data.IsEmpty)
        {
            if (ended)
            {
                if (data.ContainsAnyExcept((byte)0)) throw Invalid("data follows the end of the tar archive");
                return;
            }

            if (position < nextHeader)
            {
                // Inside the previous entry's data (and padding): capture pax data, skip the rest.
                int take = (int)Math.Min(data.Length, nextHeader - position);
                if (pax is not null)
                {
                    int copy = Math.Min(take, pax.Length - paxFill);
                    data[..copy].CopyTo(pax.AsSpan(paxFill));
                    paxFill += copy;
                    if (paxFill == pax.Length)
                    {
                        pendingSize = ParsePaxSize(pax);
                        pax = null;
                    }
                }
                position += take;
                data = data[take..];
                continue;
            }

            int headerTake = Math.Min(Block - headerFill, data.Length);
            data[..headerTake].CopyTo(header.AsSpan(headerFill));
            headerFill += headerTake;
            position += headerTake;
            data = data[headerTake..];
            if (headerFill == Block)
            {
                headerFill = 0;
                OnHeader(headerStart: position - Block);
            }
        }
    }

    void OnHeader(long headerStart)
    {
        ReadOnlySpan<byte> h = header;
        // TarReader treats an all-NUL or zero checksum as the end of the archive and reads no further. Only a block of
        // zeros is taken as the end here: a header with content but no checksum is broken, not an end.
        if (!h.ContainsAnyExcept((byte)0))
        {
            ended = true;
            return;
        }
        ReadOnlySpan<byte> checksumField = h.Slice(148, 8);
        if (!checksumField.ContainsAnyExcept((byte)0) || ParseNumeric(checksumField) == 0)
            throw Invalid("a tar header has no checksum");

        byte type = h[156];
        long size = ParseNumeric(h.Slice(124, 12));
        bool isMetadata = type is (byte)'x' or (byte)'g' or (byte)'L' or (byte)'K';

        if (previousType == (byte)'x')
        {
            // TarReader rejects metadata right after 'x'; applying the override elsewhere would desync us from it.
            if (isMetadata) throw Invalid("a tar metadata entry follows a pax extended header");
            if (pendingSize is long overridden) size = overridden;
        }
        else if (type == (byte)'x' && previousType is (byte)'L' or (byte)'K')
        {
            // TarReader would not apply this header's overrides to the next entry; refuse rather than guess.
            throw Invalid("a pax extended header follows a GNU long-name entry");
        }
        pendingSize = null;

        if (isMetadata && size > MaxMetadataBytes)
            throw Invalid($"a tar metadata entry claims {PackagingRules.N(size)} bytes (limit {PackagingRules.FormatBytes(MaxMetadataBytes)})");

        if (type == (byte)'x' && size > 0)
        {
            pax = new byte[size];
            paxFill = 0;
        }
        previousType = type;
        nextHeader = headerStart + Block + ((size + Block - 1) / Block) * Block;
    }

    /// <summary>Finds a "size" record in pax extended header data ("LEN key=value\n" records).</summary>
    long? ParsePaxSize(ReadOnlySpan<byte> data)
    {
        long? size = null;
        while (!data.IsEmpty)
        {
            int space = data.IndexOf((byte)' ');
            if (space <= 0 || !int.TryParse(data[..space], out int length) || length <= space || length > data.Length ||
                data[length - 1] != (byte)'\n')
                throw Invalid("a pax extended header is malformed");
            ReadOnlySpan<byte> record = data[(space + 1)..(length - 1)];
            int equals = record.IndexOf((byte)'=');
            if (equals < 0) throw Invalid("a pax extended header is malformed");
            if (record[..equals].SequenceEqual("size"u8))
            {
                ReadOnlySpan<byte> value = record[(equals + 1)..];
                // Only plain digits: anything TarReader might read differently is refused.
                if (value.IsEmpty || value.Length > 18 || value.ContainsAnyExceptInRange((byte)'0', (byte)'9'))
                    throw Invalid("a pax extended header has an invalid size");
                size = long.Parse(Encoding.ASCII.GetString(value), System.Globalization.CultureInfo.InvariantCulture);
            }
            data = data[length..];
        }
        return size;
    }

    /// <summary>Tar numeric field: octal text (NUL/space padded) or GNU base-256 when the high bit is set.</summary>
    long ParseNumeric(ReadOnlySpan<byte> field)
    {
        if ((field[0] & 0x80) != 0)
        {
            if (field[0] == 0xFF) throw Invalid("a tar header has a negative number");
            long value = field[0] & 0x7F;
            foreach (byte b in field[1..])
            {
                if (value > (long.MaxValue >> 9)) throw Invalid("a tar header number is too large");
                value = (value << 8) | b;
            }
            return value;
        }

        field = field.TrimStart((byte)' ').TrimEnd("\0 "u8);
        long result = 0;
        foreach (byte b in field)
        {
            if (b is < (byte)'0' or > (byte)'7') throw Invalid("it is not a tar archive (a header field is malformed)");
            result = result * 8 + (b - '0');
        }
        return result;
    }

    PackagingException Invalid(string detail) =>
        new("invalid_archive", null, $"The {archiveKind} is not a valid tar.gz file: {detail}.");
}
