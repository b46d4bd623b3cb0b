using System.Net.Mail;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.WebUtilities;

namespace SelfTune.Admin.Auth;

/// <summary>Why an invitation link cannot be used, as the invitation page explains it.</summary>
public enum InvitationRefusal { Unknown, Used, Revoked, Expired, EmailUnverified, EmailMismatch }

/// <summary>A pending invitation as the Members page lists it.</summary>
public sealed record PendingInvitation(Guid Id, string? Email, MemberRole Role, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt, string InvitedBy);

/// <summary>A new invitation and its link's path (<c>/invite/{token}</c>): the token is not stored, so the link is shown only now.</summary>
public sealed record CreatedInvitation(PendingInvitation Invitation, string LinkPath);

/// <summary>What the invitation page shows the person who opened a link; <see cref="Refusal"/> null means they can join.</summary>
public sealed record InvitationView(Guid OrgId, string OrgName, MemberRole Role, string InvitedBy, string? Email, DateTimeOffset ExpiresAt,
    bool AlreadyMember, InvitationRefusal? Refusal);

/// <summary>The outcome of accepting: the org joined (or already a member of), or why not.</summary>
public sealed record InvitationAcceptance(Guid? OrgId, InvitationRefusal? Refusal);

/// <summary>
/// Invitations to join an org by link. Owners and admins invite with a role (an admin cannot invite an owner) and
/// optionally an e-mail address, which the joining person's provider must have verified. The link carries 32 random
/// bytes; only their SHA-256 is stored. A link is single-use, expires after <see cref="Lifetime"/> and can be revoked.
/// Each call uses its own DbContext, so a page can hold this service.
/// </summary>
public sealed class InvitationService(IDbContextFactory<AdminDbContext> dbFactory, TimeProvider clock)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromDays(7);

    public async Task<CreatedInvitation> CreateAsync(ClaimsPrincipal user, MemberRole role, string? email, CancellationToken ct = default)
    {
        if (!Enum.IsDefined(role)) throw ProblemException.Invalid("role", "role must be one of: owner, admin, member, viewer.");
        var actor = Actor.From(user);
        actor.Require(MemberRole.Admin, "invite people");
        if (role == MemberRole.Owner && actor.Role != MemberRole.Owner)
            throw new ProblemException(403, "forbidden", "Only an owner invites an owner; invite them as an admin, or ask an owner.");
        email = string.IsNullOrWhiteSpace(email) ? null : email.Trim();
        if (email is not null && (email.Length > 254 || !MailAddress.TryCreate(email, out var parsed) || parsed.Address != email))
            throw ProblemException.Invalid("email", "email must be an e-mail address such as carol@example.com, or empty for a link anyone can use.");

        var token = WebEncoders.Base64UrlEncode(RandomNumberGenerator.GetBytes(32));
        var now = clock.GetUtcNow();
        var invitation = new Invitation
        {
            OrgId = actor.OrgId, TokenHash = Hash(token), Email = email, Role = role, CreatedBy = actor.Id, CreatedAt = now, ExpiresAt = now + Lifetime,
        };
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        db.Invitations.Add(invitation);
        AuditLog.Record(db, actor, now, "invitation.create", "invitation", invitation.Id.ToString(), email ?? "link",
            $"role: {Name(role)}, expires {invitation.ExpiresAt:yyyy-MM-dd HH:mm} UTC");
        await db.SaveChangesAsync(ct);
        return new CreatedInvitation(new PendingInvitation(invitation.Id, email, role, now, invitation.ExpiresAt, actor.Name), $"/invite/{token}");
    }

    /// <summary>The org's invitations not yet used, revoked or expired, newest first (owners and admins).</summary>
    public async Task<List<PendingInvitation>> ListPendingAsync(ClaimsPrincipal user, CancellationToken ct = default)
    {
        var actor = Actor.From(user);
        actor.Require(MemberRole.Admin, "see invitations");
        var now = clock.GetUtcNow();
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var pending = await db.Invitations.AsNoTracking()
            .Where(i => i.OrgId == actor.OrgId && i.AcceptedAt == null && i.RevokedAt == null && i.ExpiresAt > now)
            .Select(i => new { i.Id, i.Email, i.Role, i.CreatedAt, i.ExpiresAt, InvitedBy = db.Members.Where(m => m.Id == i.CreatedBy).Select(m => m.Name).FirstOrDefault() })
            .ToListAsync(ct);
        return pending.OrderByDescending(i => i.CreatedAt)
            .Select(i => new PendingInvitation(i.Id, i.Email, i.Role, i.CreatedAt, i.ExpiresAt, i.InvitedBy ?? "an API key")).ToList();
    }

    public async Task RevokeAsync(ClaimsPrincipal user, Guid invitationId, CancellationToken ct = default)
    {
        var actor = Actor.From(user);
        actor.Require(MemberRole.Admin, "revoke invitations");
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var invitation = await db.Invitations.SingleOrDefaultAsync(i => i.Id == invitationId && i.OrgId == actor.OrgId, ct)
            ?? throw ProblemException.NotFound("No such invitation in this org.");
        if (invitation.AcceptedAt is not null) throw ProblemException.Conflict("This invitation was already used; remove the member instead.");
        if (invitation.RevokedAt is not null) return;
        var now = clock.GetUtcNow();
        invitation.RevokedAt = now;
        AuditLog.Record(db, actor, now, "invitation.revoke", "invitation", invitation.Id.ToString(), invitation.Email ?? "link", $"role: {Name(invitation.Role)}");
        await db.SaveChangesAsync(ct);
    }

    /// <summary>What the link <paramref name="token"/> offers <paramref name="user"/>; null for a link that names no invitation.</summary>
    public async Task<InvitationView?> DescribeAsync(ClaimsPrincipal user, string token, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var invitation = await FindAsync(db, token, ct);
        if (invitation is null) return null;
        var org = await db.Orgs.AsNoTracking().SingleAsync(o => o.Id == invitation.OrgId, ct);
        var invitedBy = await db.Members.Where(m => m.Id == invitation.CreatedBy).Select(m => m.Name).FirstOrDefaultAsync(ct) ?? "an API key";
        var alreadyMember = await IsMemberAsync(db, user, invitation.OrgId, ct);
        return new InvitationView(org.Id, org.Name, invitation.Role, invitedBy, invitation.Email, invitation.ExpiresAt, alreadyMember,
            alreadyMember ? null : Check(invitation, user, clock.GetUtcNow()));
    }

    /// <summary>
    /// Joins <paramref name="user"/>'s person to the invitation's org with its role (the caller then switches them to it).
    /// The invitation is taken by one conditional UPDATE, so of two people using one link at once only one joins.
    /// A person already in the org just switches to it, and the link stays unused.
    /// </summary>
    public async Task<InvitationAcceptance> AcceptAsync(ClaimsPrincipal user, string token, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var invitation = await FindAsync(db, token, ct);
        if (invitation is null) return new(null, InvitationRefusal.Unknown);
        var subject = await MemberDirectory.SubjectOfAsync(db, user, ct) ?? throw new ProblemException(403, "forbidden", "Sign in to accept an invitation.");
        if (await IsMemberAsync(db, user, invitation.OrgId, ct)) return new(invitation.OrgId, null);
        var now = clock.GetUtcNow();
        if (Check(invitation, user, now) is { } refusal) return new(null, refusal);

        var member = new Member
        {
            OrgId = invitation.OrgId, Subject = subject, Name = user.Identity?.Name ?? "New member",
            Email = user.FindFirstValue(ClaimTypes.Email) is { Length: > 0 } email ? email : null,
            Role = invitation.Role, CreatedAt = now, LastSelectedAt = now,
        };
        await using (var tx = await db.Database.BeginTransactionAsync(ct))
        {
            var taken = await db.Invitations
                .Where(i => i.Id == invitation.Id && i.AcceptedAt == null && i.RevokedAt == null && i.ExpiresAt > now)
                .ExecuteUpdateAsync(s => s.SetProperty(i => i.AcceptedAt, now).SetProperty(i => i.AcceptedBy, member.Id), ct);
            if (taken == 1)
            {
                db.Members.Add(member);
                AuditLog.Record(db, new Actor(invitation.OrgId, member.Id, member.Role) { Name = member.Name }, now, "invitation.accept", "invitation",
                    invitation.Id.ToString(), invitation.Email ?? member.Name, $"{member.Name} joined as {Name(member.Role)}");
                await db.SaveChangesAsync(ct);
                await tx.CommitAsync(ct);
                return new(invitation.OrgId, null);
            }
        }
        // Someone else took it (or it was revoked or expired) since it was read; the same person in another tab has joined.
        if (await IsMemberAsync(db, user, invitation.OrgId, ct)) return new(invitation.OrgId, null);
        var latest = await FindAsync(db, token, ct);
        return new(null, latest is null ? InvitationRefusal.Unknown : Check(latest, user, now) ?? InvitationRefusal.Used);
    }

    static InvitationRefusal? Check(Invitation invitation, ClaimsPrincipal user, DateTimeOffset now)
    {
        if (invitation.AcceptedAt is not null) return InvitationRefusal.Used;
        if (invitation.RevokedAt is not null) return InvitationRefusal.Revoked;
        if (invitation.ExpiresAt <= now) return InvitationRefusal.Expired;
        if (invitation.Email is null) return null;
        var verified = user.FindFirstValue(SelfTuneClaims.VerifiedEmail);
        if (string.IsNullOrEmpty(verified)) return InvitationRefusal.EmailUnverified;
        return string.Equals(verified, invitation.Email, StringComparison.OrdinalIgnoreCase) ? null : InvitationRefusal.EmailMismatch;
    }

    static async Task<Invitation?> FindAsync(AdminDbContext db, string token, CancellationToken ct)
    {
        // A link's token is 43 characters; anything far longer names no invitation and is not worth hashing.
        if (string.IsNullOrEmpty(token) || token.Length > 100) return null;
        var hash = Hash(token);
        return await db.Invitations.AsNoTracking().SingleOrDefaultAsync(i => i.TokenHash == hash, ct);
    }

    static async Task<bool> IsMemberAsync(AdminDbContext db, ClaimsPrincipal user, Guid orgId, CancellationToken ct) =>
        await MemberDirectory.SubjectOfAsync(db, user, ct) is { } subject && await db.Members.AnyAsync(m => m.OrgId == orgId && m.Subject == subject, ct);

    /// <summary>Lower-case hex SHA-256 of the link's token, as <see cref="Invitation.TokenHash"/> stores it.</summary>
    static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    static string Name(MemberRole role) => role.ToString().ToLowerInvariant();
}
