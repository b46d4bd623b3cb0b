using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace SelfTune.Admin.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class WithdrawDriftRecovery : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "Warnings",
                table: "Versions",
                type: "text",
                nullable: true);

            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "YankedAt",
                table: "Versions",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<Guid>(
                name: "YankedBy",
                table: "Versions",
                type: "uuid",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "YankedReason",
                table: "Versions",
                type: "text",
                nullable: true);

            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "DeprecatedAt",
                table: "Entries",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "DeprecationMessage",
                table: "Entries",
                type: "text",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "Drift",
                table: "Connections",
                type: "text",
                nullable: true);

            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "DriftDetectedAt",
                table: "Connections",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "DeliveryRecoveries",
                columns: table => new
                {
                    DeliveryId = table.Column<string>(type: "text", nullable: false),
                    HookDeliveryId = table.Column<long>(type: "bigint", nullable: false),
                    Event = table.Column<string>(type: "text", nullable: false),
                    Action = table.Column<string>(type: "text", nullable: true),
                    DeliveredAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    RequestedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    Error = table.Column<string>(type: "text", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_DeliveryRecoveries", x => x.DeliveryId);
                });

            migrationBuilder.CreateIndex(
                name: "IX_DeliveryRecoveries_RequestedAt",
                table: "DeliveryRecoveries",
                column: "RequestedAt");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "DeliveryRecoveries");

            migrationBuilder.DropColumn(
                name: "Warnings",
                table: "Versions");

            migrationBuilder.DropColumn(
                name: "YankedAt",
                table: "Versions");

            migrationBuilder.DropColumn(
                name: "YankedBy",
                table: "Versions");

            migrationBuilder.DropColumn(
                name: "YankedReason",
                table: "Versions");

            migrationBuilder.DropColumn(
                name: "DeprecatedAt",
                table: "Entries");

            migrationBuilder.DropColumn(
                name: "DeprecationMessage",
                table: "Entries");

            migrationBuilder.DropColumn(
                name: "Drift",
                table: "Connections");

            migrationBuilder.DropColumn(
                name: "DriftDetectedAt",
                table: "Connections");
        }
    }
}
