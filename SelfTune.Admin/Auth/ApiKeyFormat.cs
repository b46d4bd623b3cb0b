using System.Security.Cryptography;
using System.Text;

namespace SelfTune.Admin.Auth;

/// <summary>The <c>st_live_</c> key format: 32 random bytes in base62, stored only as a SHA-256 hash.</summary>
public static class ApiKeyFormat
{
    public const string Marker = "st_live_";
    const string Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    /// <summary>Enough of the key to tell keys apart in a list, too little to guess the rest.</summary>
    public const int VisiblePrefixLength = 12;

    public static string Generate()
    {
        Span<byte> bytes = stackalloc byte[32];
        RandomNumberGenerator.Fill(bytes);
        return Marker + ToBase62(bytes);
    }

    public static string Hash(string key) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    public static string VisiblePrefix(string key) => key.Length <= VisiblePrefixLength ? key : key[..VisiblePrefixLength];

    static string ToBase62(ReadOnlySpan<byte> bytes)
    {
        var value = new System.Numerics.BigInteger(bytes, isUnsigned: true, isBigEndian: true);
        var sb = new StringBuilder(43);
        while (value > 0)
        {
            value = System.Numerics.BigInteger.DivRem(value, 62, out var rem);
            sb.Insert(0, Alphabet[(int)rem]);
        }
        // Fixed width so every key has the same length (leading zero digits).
        return sb.ToString().PadLeft(43, '0');
    }
}
