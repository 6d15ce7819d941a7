<?xml version="1.0" encoding="UTF-8"?>
<!--
  Köprü's display stylesheet for UBL-TR 1.2 invoices (e-Fatura and e-Arşiv), XSLT 1.0.

  Embedded in every invoice Köprü renders (cac:AdditionalDocumentReference, cbc:DocumentType XSLT)
  and run by kopru.einvoice.view with file and network access denied. It reads only the
  document: no xsl:import/xsl:include, no document(), no script, no image, no outside link.
  Text only, so the HTML page it makes can be served with Content-Security-Policy
  default-src 'none'; style-src 'unsafe-inline'.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:inv="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
    xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
    xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
    exclude-result-prefixes="inv cac cbc">

  <xsl:output method="html" encoding="UTF-8" indent="no"
      doctype-system="about:legacy-compat"/>

  <xsl:decimal-format name="tr" decimal-separator="," grouping-separator="."/>

  <xsl:variable name="inv" select="/inv:Invoice"/>
  <xsl:variable name="cur" select="$inv/cbc:DocumentCurrencyCode"/>

  <!-- 1234.5 -> 1.234,50 -->
  <xsl:template name="money">
    <xsl:param name="n"/>
    <xsl:choose>
      <xsl:when test="string(number($n)) = 'NaN'"><xsl:value-of select="$n"/></xsl:when>
      <xsl:otherwise><xsl:value-of select="format-number($n, '#.##0,00', 'tr')"/></xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- an amount element with its currency -->
  <xsl:template name="amount">
    <xsl:param name="el"/>
    <xsl:call-template name="money"><xsl:with-param name="n" select="$el"/></xsl:call-template>
    <xsl:text> </xsl:text>
    <xsl:value-of select="$el/@currencyID"/>
  </xsl:template>

  <!-- 2026-11-20 -> 20.11.2026 -->
  <xsl:template name="date">
    <xsl:param name="d"/>
    <xsl:choose>
      <xsl:when test="string-length($d) = 10">
        <xsl:value-of select="concat(substring($d, 9, 2), '.', substring($d, 6, 2), '.', substring($d, 1, 4))"/>
      </xsl:when>
      <xsl:otherwise><xsl:value-of select="$d"/></xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- a party: name (company or person), identifier, tax office, address, contact -->
  <xsl:template match="cac:Party">
    <div class="name">
      <xsl:choose>
        <xsl:when test="cac:PartyName/cbc:Name"><xsl:value-of select="cac:PartyName/cbc:Name"/></xsl:when>
        <xsl:otherwise>
          <xsl:value-of select="concat(cac:Person/cbc:FirstName, ' ', cac:Person/cbc:FamilyName)"/>
        </xsl:otherwise>
      </xsl:choose>
    </div>
    <xsl:if test="cac:PartyName/cbc:Name and cac:Person">
      <div><xsl:value-of select="concat(cac:Person/cbc:FirstName, ' ', cac:Person/cbc:FamilyName)"/></div>
    </xsl:if>
    <xsl:for-each select="cac:PostalAddress">
      <div>
        <xsl:if test="cbc:StreetName"><xsl:value-of select="cbc:StreetName"/><xsl:text> </xsl:text></xsl:if>
        <xsl:if test="cbc:PostalZone"><xsl:value-of select="cbc:PostalZone"/><xsl:text> </xsl:text></xsl:if>
        <xsl:value-of select="cbc:CitySubdivisionName"/> / <xsl:value-of select="cbc:CityName"/>
        <xsl:if test="cac:Country/cbc:Name"> / <xsl:value-of select="cac:Country/cbc:Name"/></xsl:if>
      </div>
    </xsl:for-each>
    <xsl:if test="cac:PartyTaxScheme/cac:TaxScheme/cbc:Name">
      <div>Vergi Dairesi: <xsl:value-of select="cac:PartyTaxScheme/cac:TaxScheme/cbc:Name"/></div>
    </xsl:if>
    <xsl:for-each select="cac:PartyIdentification/cbc:ID[@schemeID = 'VKN' or @schemeID = 'TCKN']">
      <div><xsl:value-of select="@schemeID"/>: <xsl:value-of select="."/></div>
    </xsl:for-each>
    <xsl:if test="cac:Contact/cbc:Telephone">
      <div>Tel: <xsl:value-of select="cac:Contact/cbc:Telephone"/></div>
    </xsl:if>
    <xsl:if test="cac:Contact/cbc:ElectronicMail">
      <div>E-posta: <xsl:value-of select="cac:Contact/cbc:ElectronicMail"/></div>
    </xsl:if>
    <xsl:if test="cbc:WebsiteURI">
      <div>Web: <xsl:value-of select="cbc:WebsiteURI"/></div>
    </xsl:if>
  </xsl:template>

  <xsl:template match="/">
    <html lang="tr">
      <head>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <title>
          <xsl:choose>
            <xsl:when test="$inv/cbc:ProfileID = 'EARSIVFATURA'">e-Arşiv Fatura </xsl:when>
            <xsl:otherwise>e-Fatura </xsl:otherwise>
          </xsl:choose>
          <xsl:value-of select="$inv/cbc:ID"/>
        </title>
        <style>
          body { font-family: Arial, Helvetica, sans-serif; font-size: 14px; color: #222; margin: 0; padding: 16px; }
          .doc { max-width: 860px; margin: 0 auto; }
          h1 { font-size: 20px; margin: 0 0 12px 0; }
          h2 { font-size: 15px; margin: 18px 0 6px 0; border-bottom: 1px solid #999; }
          .parties { display: flex; flex-wrap: wrap; gap: 16px; }
          .parties > div { flex: 1 1 300px; border: 1px solid #ccc; padding: 8px; }
          .name { font-weight: bold; }
          table { border-collapse: collapse; width: 100%; }
          th, td { border: 1px solid #ccc; padding: 4px 6px; text-align: left; vertical-align: top; }
          td.n, th.n { text-align: right; white-space: nowrap; }
          table.info td:first-child { width: 40%; font-weight: bold; }
          .totals { margin-left: auto; width: auto; min-width: 50%; }
          .payable td { font-weight: bold; }
          .notes div { margin: 2px 0; }
        </style>
      </head>
      <body>
        <div class="doc">
          <h1>
            <xsl:choose>
              <xsl:when test="$inv/cbc:ProfileID = 'EARSIVFATURA'">e-Arşiv Fatura</xsl:when>
              <xsl:otherwise>e-Fatura</xsl:otherwise>
            </xsl:choose>
          </h1>
          <div class="parties">
            <div>
              <h2>Satıcı</h2>
              <xsl:apply-templates select="$inv/cac:AccountingSupplierParty/cac:Party"/>
            </div>
            <div>
              <h2>Alıcı</h2>
              <xsl:apply-templates select="$inv/cac:AccountingCustomerParty/cac:Party"/>
            </div>
          </div>
          <xsl:if test="$inv/cac:BuyerCustomerParty">
            <h2>Yabancı Alıcı</h2>
            <div><xsl:apply-templates select="$inv/cac:BuyerCustomerParty/cac:Party"/></div>
          </xsl:if>

          <h2>Fatura Bilgileri</h2>
          <table class="info">
            <tr><td>Fatura No</td><td><xsl:value-of select="$inv/cbc:ID"/></td></tr>
            <tr><td>ETTN</td><td><xsl:value-of select="$inv/cbc:UUID"/></td></tr>
            <tr>
              <td>Düzenleme Tarihi</td>
              <td>
                <xsl:call-template name="date"><xsl:with-param name="d" select="$inv/cbc:IssueDate"/></xsl:call-template>
                <xsl:if test="$inv/cbc:IssueTime"><xsl:text> </xsl:text><xsl:value-of select="$inv/cbc:IssueTime"/></xsl:if>
              </td>
            </tr>
            <tr><td>Senaryo</td><td><xsl:value-of select="$inv/cbc:ProfileID"/></td></tr>
            <tr><td>Fatura Tipi</td><td><xsl:value-of select="$inv/cbc:InvoiceTypeCode"/></td></tr>
            <tr><td>Para Birimi</td><td><xsl:value-of select="$cur"/></td></tr>
            <xsl:for-each select="$inv/cac:BillingReference/cac:InvoiceDocumentReference">
              <tr>
                <td>İlgili Fatura</td>
                <td>
                  <xsl:value-of select="cbc:ID"/><xsl:text> (</xsl:text>
                  <xsl:call-template name="date"><xsl:with-param name="d" select="cbc:IssueDate"/></xsl:call-template>
                  <xsl:text>)</xsl:text>
                </td>
              </tr>
            </xsl:for-each>
          </table>

          <xsl:if test="$inv/cac:AdditionalDocumentReference[cbc:DocumentTypeCode = 'IS_INTERNET']">
            <h2>İnternet Satışı</h2>
            <table class="info">
              <tr>
                <td>Satışın Yapıldığı Web Adresi</td>
                <td><xsl:value-of select="$inv/cac:AdditionalDocumentReference[cbc:DocumentTypeCode = 'INT_WEBSITE']/cbc:ID"/></td>
              </tr>
              <tr>
                <td>Ödeme Şekli</td>
                <td><xsl:value-of select="$inv/cac:AdditionalDocumentReference[cbc:DocumentTypeCode = 'INT_PAYMENT_METHOD']/cbc:ID"/></td>
              </tr>
              <xsl:if test="$inv/cac:PaymentMeans/cbc:PaymentChannelCode">
                <tr><td>Ödeme Aracısı</td><td><xsl:value-of select="$inv/cac:PaymentMeans/cbc:PaymentChannelCode"/></td></tr>
              </xsl:if>
              <xsl:if test="$inv/cac:AdditionalDocumentReference[cbc:DocumentTypeCode = 'INT_PAYMENTDATE']">
                <tr>
                  <td>Ödeme Tarihi</td>
                  <td>
                    <xsl:call-template name="date">
                      <xsl:with-param name="d" select="$inv/cac:AdditionalDocumentReference[cbc:DocumentTypeCode = 'INT_PAYMENTDATE']/cbc:ID"/>
                    </xsl:call-template>
                  </td>
                </tr>
              </xsl:if>
              <xsl:for-each select="$inv/cac:Delivery[cac:Despatch/cbc:ActualDespatchDate]">
                <tr>
                  <td>Gönderim Tarihi</td>
                  <td>
                    <xsl:call-template name="date"><xsl:with-param name="d" select="cac:Despatch/cbc:ActualDespatchDate"/></xsl:call-template>
                  </td>
                </tr>
                <xsl:for-each select="cac:CarrierParty">
                  <tr><td>Gönderiyi Taşıyan</td><td><xsl:value-of select="cac:PartyName/cbc:Name"/></td></tr>
                  <tr>
                    <td>Taşıyanın <xsl:value-of select="cac:PartyIdentification/cbc:ID/@schemeID"/></td>
                    <td><xsl:value-of select="cac:PartyIdentification/cbc:ID"/></td>
                  </tr>
                </xsl:for-each>
              </xsl:for-each>
            </table>
          </xsl:if>

          <h2>Mal ve Hizmetler</h2>
          <table>
            <tr>
              <th class="n">Sıra</th><th>Mal / Hizmet</th><th class="n">Miktar</th><th class="n">Birim Fiyat</th>
              <th class="n">İskonto</th><th class="n">KDV Oranı</th><th class="n">KDV Tutarı</th><th class="n">Tutar</th>
            </tr>
            <xsl:for-each select="$inv/cac:InvoiceLine">
              <tr>
                <td class="n"><xsl:value-of select="cbc:ID"/></td>
                <td><xsl:value-of select="cac:Item/cbc:Name"/></td>
                <td class="n">
                  <xsl:value-of select="translate(cbc:InvoicedQuantity, '.', ',')"/>
                  <xsl:text> </xsl:text><xsl:value-of select="cbc:InvoicedQuantity/@unitCode"/>
                </td>
                <td class="n"><xsl:call-template name="amount"><xsl:with-param name="el" select="cac:Price/cbc:PriceAmount"/></xsl:call-template></td>
                <td class="n">
                  <xsl:if test="cac:AllowanceCharge[cbc:ChargeIndicator = 'false']">
                    <xsl:call-template name="amount"><xsl:with-param name="el" select="cac:AllowanceCharge[cbc:ChargeIndicator = 'false']/cbc:Amount"/></xsl:call-template>
                  </xsl:if>
                </td>
                <td class="n">%<xsl:value-of select="cac:TaxTotal/cac:TaxSubtotal[cac:TaxCategory/cac:TaxScheme/cbc:TaxTypeCode = '0015']/cbc:Percent"/></td>
                <td class="n"><xsl:call-template name="amount"><xsl:with-param name="el" select="cac:TaxTotal/cbc:TaxAmount"/></xsl:call-template></td>
                <td class="n"><xsl:call-template name="amount"><xsl:with-param name="el" select="cbc:LineExtensionAmount"/></xsl:call-template></td>
              </tr>
            </xsl:for-each>
          </table>

          <h2>Vergiler ve Toplamlar</h2>
          <table class="totals">
            <xsl:variable name="lmt" select="$inv/cac:LegalMonetaryTotal"/>
            <tr><td>Mal Hizmet Toplam Tutarı</td><td class="n"><xsl:call-template name="amount"><xsl:with-param name="el" select="$lmt/cbc:LineExtensionAmount"/></xsl:call-template></td></tr>
            <xsl:for-each select="$inv/cac:TaxTotal/cac:TaxSubtotal">
              <tr>
                <td>
                  <xsl:value-of select="cac:TaxCategory/cac:TaxScheme/cbc:Name"/> (%<xsl:value-of select="cbc:Percent"/>) matrahı
                  <xsl:call-template name="amount"><xsl:with-param name="el" select="cbc:TaxableAmount"/></xsl:call-template>
                  <xsl:if test="cac:TaxCategory/cbc:TaxExemptionReasonCode">
                    <xsl:text>, istisna </xsl:text><xsl:value-of select="cac:TaxCategory/cbc:TaxExemptionReasonCode"/>
                    <xsl:text> </xsl:text><xsl:value-of select="cac:TaxCategory/cbc:TaxExemptionReason"/>
                  </xsl:if>
                </td>
                <td class="n"><xsl:call-template name="amount"><xsl:with-param name="el" select="cbc:TaxAmount"/></xsl:call-template></td>
              </tr>
            </xsl:for-each>
            <xsl:for-each select="$inv/cac:WithholdingTaxTotal/cac:TaxSubtotal">
              <tr>
                <td>Tevkifat (<xsl:value-of select="cac:TaxCategory/cac:TaxScheme/cbc:TaxTypeCode"/>, %<xsl:value-of select="cbc:Percent"/>)</td>
                <td class="n"><xsl:call-template name="amount"><xsl:with-param name="el" select="cbc:TaxAmount"/></xsl:call-template></td>
              </tr>
            </xsl:for-each>
            <tr><td>Vergiler Hariç Tutar</td><td class="n"><xsl:call-template name="amount"><xsl:with-param name="el" select="$lmt/cbc:TaxExclusiveAmount"/></xsl:call-template></td></tr>
            <tr><td>Vergiler Dahil Toplam Tutar</td><td class="n"><xsl:call-template name="amount"><xsl:with-param name="el" select="$lmt/cbc:TaxInclusiveAmount"/></xsl:call-template></td></tr>
            <tr class="payable"><td>Ödenecek Tutar</td><td class="n"><xsl:call-template name="amount"><xsl:with-param name="el" select="$lmt/cbc:PayableAmount"/></xsl:call-template></td></tr>
          </table>

          <xsl:if test="$inv/cbc:Note">
            <h2>Notlar</h2>
            <div class="notes">
              <xsl:for-each select="$inv/cbc:Note"><div><xsl:value-of select="."/></div></xsl:for-each>
            </div>
          </xsl:if>
        </div>
      </body>
    </html>
  </xsl:template>
</xsl:stylesheet>
