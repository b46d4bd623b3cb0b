using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using SelfTune.Admin.GitHub.Client;

namespace SelfTune.Admin.Tests.GitHubAppClient;

public class AppJwtTests
{
    internal static readonly RSA Key = RSA.Create(2048);
    private static readonly DateTimeOffset Now = new(2025, 3, 4, 5, 6, 7, TimeSpan.Zero);

    [Theory]
    [InlineData(false, "-----BEGIN RSA PRIVATE KEY-----")]
    [InlineData(true, "-----BEGIN PRIVATE KEY-----")]
    public async Task Token_has_github_claims_and_verifies_with_public_key(bool pkcs8, string pemHeader)
    {
        var pem = pkcs8 ? Key.ExportPkcs8PrivateKeyPem() : Key.ExportRSAPrivateKeyPem();
        Assert.StartsWith(pemHeader, pem);

        var jwt = AppJwt.Create(new GitHubAppCredentials(12345, "selftune", pem, "secret"), new FakeTimeProvider(Now));

        var result = await new JsonWebTokenHandler().ValidateTokenAsync(jwt, new TokenValidationParameters
        {
            IssuerSigningKey = new RsaSecurityKey(Key.ExportParameters(includePrivateParameters: false)),
            ValidIssuer = "12345",
            ValidateAudience = false,
            ValidateLifetime = false,
            ValidAlgorithms = [SecurityAlgorithms.RsaSha256],
        });
        Assert.True(result.IsValid, result.Exception?.ToString());

        var token = new JsonWebToken(jwt);
        Assert.Equal("RS256", token.Alg);
        using var payload = JsonDocument.Parse(Base64UrlEncoder.Decode(token.EncodedPayload));
        var root = payload.RootElement;
        Assert.Equal(JsonValueKind.String, root.GetProperty("iss").ValueKind); // GitHub wants the App id as a string
        Assert.Equal("12345", root.GetProperty("iss").GetString());
        Assert.Equal(Now.AddSeconds(-60).ToUnixTimeSeconds(), root.GetProperty("iat").GetInt64());
        var exp = root.GetProperty("exp").GetInt64();
        Assert.Equal(Now.AddMinutes(9).ToUnixTimeSeconds(), exp);
        Assert.True(exp - root.GetProperty("iat").GetInt64() <= 600);
    }

    [Fact]
    public async Task Token_does_not_verify_with_another_key()
    {
        using var other = RSA.Create(2048);
        var jwt = AppJwt.Create(new GitHubAppCredentials(1, "s", Key.ExportRSAPrivateKeyPem(), "w"), TimeProvider.System);

        var result = await new JsonWebTokenHandler().ValidateTokenAsync(jwt, new TokenValidationParameters
        {
            IssuerSigningKey = new RsaSecurityKey(other.ExportParameters(false)),
            ValidateIssuer = false,
            ValidateAudience = false,
        });
        Assert.False(result.IsValid);
    }

    [Fact]
    public void Invalid_pem_is_reported_as_not_configured()
    {
        var e = Assert.Throws<GitHubNotConfiguredException>(() =>
            AppJwt.Create(new GitHubAppCredentials(1, "s", "not a key", "w"), TimeProvider.System));
        Assert.Equal(["GitHub:PrivateKey"], e.MissingSettings);
    }
}
